"""Shared helpers of the reliability tests: plain-sqlite3 checks of a data directory,
a writer run on a bus of its own, and the events and trade calls the integrity tests
build on."""

from __future__ import annotations

import inspect
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

import schemas
from eventbus import EventBus
from schemas import Tick, TradeExecution
from tradebus import Node, TradeIntegration
from writers import SPECS, DatabaseSpec, WriterActor, WriterError, WriterLock, reader_uri

HERE = Path(__file__).parent

#: The three default database files.
DATABASE_FILES: tuple[str, ...] = tuple(spec.filename for spec in SPECS)

#: Soak variants run only when this is set (they are marked ``soak`` too).
SOAK = os.environ.get("TRADEBUS_SOAK") == "1"

#: Hostile text: SQL that would drop a table were it ever spliced into a statement.
SQL_INJECTION = "'; DROP TABLE trade_executions; --"
#: Hostile texts: SQL, parameter markers, a NUL, emoji and a right-to-left override.
NASTY_TEXT = [
    SQL_INJECTION,
    "Robert'); DROP TABLE unified_ticks;--",
    '" OR 1=1 --',
    "\\'; DELETE FROM trade_positions WHERE ''='",
    "?1 ?2 :name @x $y",
    "x\x00y",
    "🚀 ünïcödé \u202e",
]


def script(name: str) -> list[str]:
    """The command line that runs the helper script ``name`` of this directory."""
    return [sys.executable, str(HERE / name)]


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain ``sqlite3`` read-only connection, as an outside observer opens it."""
    uri = reader_uri(path)
    with closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as conn:
        yield conn


def one(path: Path, sql: str, *params: object) -> Any:
    """The first row of ``sql`` (None if it has none), read with plain sqlite3."""
    with read_only(path) as conn:
        return conn.execute(sql, params).fetchone()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read with a fresh plain sqlite3 connection, after the writer."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def read_rows(path: Path, sql_or_table: str) -> list[tuple[Any, ...]]:
    """Rows of a query, or every row of a table, read with plain sqlite3 (read-only)."""
    sql = sql_or_table if " " in sql_or_table else f"SELECT * FROM {sql_or_table}"
    with read_only(path) as conn:
        return conn.execute(sql).fetchall()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of ``path`` ("ok" when the file is sound)."""
    with read_only(path) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "\n".join(str(row[0]) for row in rows)


def count(path: Path, table: str, where: str = "", *params: object) -> int:
    """Rows of ``table`` (matching ``where``), read with plain sqlite3."""
    with read_only(path) as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        row = conn.execute(sql, params).fetchone()
    return int(row[0])


def tables(path: Path) -> list[tuple[str, str]]:
    """(type, name) of every table, index and view in ``path``."""
    with read_only(path) as conn:
        rows = conn.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()
    return [(str(kind), str(name)) for kind, name in rows]


def assert_lock_free(database: Path) -> None:
    """A new writer can take ``database``'s writer lock at once (nobody holds it)."""
    lock = WriterLock(database, "reliability-test")
    lock.acquire()  # raises WriterLockError if a (dead) process still held it
    lock.release()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (30 s at most): for counters, not events."""
    with anyio.fail_after(30):
        while not condition():  # noqa: ASYNC110 - statistics are counters, not events
            await anyio.sleep(0.01)


def is_coroutine_method(member: object) -> bool:
    """A method of TradeIntegration that is a coroutine function under its wrapper."""
    return callable(member) and inspect.iscoroutinefunction(inspect.unwrap(member))


# ------------------------------------------------------------ a writer on its own bus


class Writer:
    """A writer run in its own task: its failure is recorded, not raised into the test."""

    def __init__(self, bus: EventBus, spec: DatabaseSpec, path: Path, **options: Any) -> None:
        self.actor = WriterActor(bus, spec, path, **options)
        self.error: BaseException | None = None
        self.stopped = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.actor.run(task_status=task_status)
        except WriterError as exc:
            self.error = exc
        finally:
            self.stopped.set()


@asynccontextmanager
async def bus_and_writer(
    spec: DatabaseSpec, path: Path, **options: Any
) -> AsyncIterator[tuple[EventBus, Writer]]:
    """A bus with one :class:`Writer` for ``path`` running on it (stopped on exit)."""
    async with EventBus(admit=schemas.admit) as bus, anyio.create_task_group() as tg:
        writer = Writer(bus, spec, path, **options)
        await tg.start(writer.run)
        yield bus, writer
        writer.actor.stop()


def execution(ticket: int) -> TradeExecution:
    """A BUY of 0.01 BTCUSDT at 50,000 that opens position ``ticket``."""
    return TradeExecution(
        ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0, volume=0.01
    )


def tick(n: int) -> Tick:
    """A BTCUSDT tick whose prices and ts ``n`` makes distinct."""
    return Tick(symbol="BTCUSDT", bid=50_000.0 + n, ask=50_000.5 + n, ts=1_000 + n)


# ------------------------------------------------------- trades the call tests log

#: The arguments of a recommendation call (a BUY at 100, stop 99, take profit 102).
RECOMMENDATION_CALL: dict[str, Any] = {
    "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0, "stop_loss": 99.0,
    "take_profit": 102.0, "confidence": 60,
}  # fmt: skip
#: The arguments of an execution call (ticket 7, a BUY of 1 at 100).
EXECUTION_CALL: dict[str, Any] = {
    "ticket": 7, "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0, "volume": 1.0,
}  # fmt: skip


def recommendation_state(path: Path, recommendation_id: str) -> tuple[Any, ...]:
    """(status, ticket, outcome, realized_pnl) of the recommendation stored in ``path``."""
    return tuple(
        one(
            path,
            "SELECT status, ticket, outcome, realized_pnl FROM trade_recommendations "
            "WHERE recommendation_id = ?",
            recommendation_id,
        )
    )


async def executed_trade(node: Node, ticket: int) -> tuple[TradeIntegration, TradeIntegration, str]:
    """A recommendation logged and executed as ``ticket``: (agent, bot, its id)."""
    agent = node.integration("desktop_agent")
    bot = node.integration("chatgpt_bot")
    rec = await agent.log_trade_recommendation(
        symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=90.0,
        take_profit=120.0, confidence=70.0, reasoning=str(ticket),
    )  # fmt: skip
    await bot.log_trade_execution(
        ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
        recommendation_id=rec,
    )  # fmt: skip
    return agent, bot, rec


# ------------------------------------------------------- the README's trade, as fields

#: A ts (ns since the epoch, November 2023) the state tests' events count from.
T0 = 1_700_000_000_000_000_000

#: The README's recommendation: the fields of its call, or of its event.
README_RECOMMENDATION: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "direction": "BUY",
    "entry_price": 50_000.0,
    "stop_loss": 49_500.0,
    "take_profit": 51_000.0,
    "confidence": 85.0,
    "reasoning": "Strong bullish momentum",
    "timeframe": "H1",
}
#: The README's execution (ticket 12345): the fields of its call, or of its event.
README_EXECUTION: dict[str, Any] = {
    "ticket": 12_345,
    "symbol": "BTCUSDT",
    "direction": "BUY",
    "entry_price": 50_000.0,
    "volume": 0.01,
    "stop_loss": 49_500.0,
    "take_profit": 51_000.0,
}
