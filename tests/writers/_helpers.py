"""Shared helpers of the writer tests: a running writer, events, plain sqlite3 reads."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

import schemas
from eventbus import EventBus
from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    OcoGroup,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from writers import ANALYSIS, LOGS, MAIN, DatabaseSpec, WriterActor, create_database

#: The helper script that runs a writer in another process.
WRITER_PROCESS = Path(__file__).with_name("writer_process.py")

#: Where each event type is stored, in columns named as its fields.
TABLES: dict[type[Event], tuple[str, str]] = {
    Tick: (MAIN.filename, "unified_ticks"),
    Candle: (MAIN.filename, "candles"),
    TradeExecution: (MAIN.filename, "trade_executions"),
    PositionUpdate: (MAIN.filename, "position_updates"),
    TradeRecommendation: (ANALYSIS.filename, "trade_recommendations"),
    RecommendationUpdate: (ANALYSIS.filename, "recommendation_updates"),
    TradeAnalysis: (ANALYSIS.filename, "trade_analysis"),
    AnalysisResult: (ANALYSIS.filename, "analysis_results"),
    TradeMonitoring: (LOGS.filename, "trade_monitoring"),
    TradeAlert: (LOGS.filename, "trade_alerts"),
    ApiLog: (LOGS.filename, "api_logs"),
    SystemHealth: (LOGS.filename, "system_health"),
    TickImport: (MAIN.filename, "tick_imports"),
    ExitRule: (MAIN.filename, "exit_rules"),
    OcoGroup: (MAIN.filename, "oco_groups"),
    MonitorMark: (MAIN.filename, "monitor_marks"),
}

#: A wall-clock time (ns) for events whose order and finality a test looks at.
WALL_CLOCK_NS = 1_700_000_000_000_000_000
#: A second, in ns.
SECOND_NS = 1_000_000_000


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock until it is rolled back."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


@asynccontextmanager
async def counting_writer(
    tmp_path: Path, commits: list[int], **options: Any
) -> AsyncIterator[tuple[Path, EventBus, WriterActor]]:
    """A new main database in ``tmp_path`` and a writer on it whose batches are cut by
    size alone (``max_delay`` an hour), each commit's size appended to ``commits``."""
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    options.setdefault("max_delay", 3600.0)
    async with running_writer(
        path, MAIN, on_commit=lambda batch, _: commits.append(len(batch)), **options
    ) as (bus, actor):
        yield path, bus, actor


@asynccontextmanager
async def running_writer(
    path: Path, spec: DatabaseSpec, **options: Any
) -> AsyncIterator[tuple[EventBus, WriterActor]]:
    """A bus with one writer for ``path`` running on it."""
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(bus, spec, path, **options) as actor,
    ):
        yield bus, actor


@asynccontextmanager
async def writer_process(*args: str | Path) -> AsyncIterator[Process]:
    """Run :data:`WRITER_PROCESS` with ``args`` until it has said "ready"; kill it on exit."""
    process = await anyio.open_process(
        [sys.executable, str(WRITER_PROCESS), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,  # its traceback, if any, lands in the test's captured output
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 1024)
        assert line == b"ready"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()


async def wait_until(condition: Callable[[], bool | Awaitable[bool]]) -> None:
    """Poll ``condition`` until it holds (bound it with ``anyio.fail_after``).

    For state that offers nothing to wait on: another process, a file, a database.
    """
    while True:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await anyio.sleep(0.02)


@contextmanager
def read_only_directory(path: Path) -> Iterator[None]:
    """Nobody may create or delete files in ``path``; files in it stay writable.

    chmod does not stop root, so as root the directory is made immutable (chattr +i);
    where that is not possible either, the test is skipped.
    """
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", path], check=False).returncode:
        pytest.skip("running as root, where only chattr +i makes a directory read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", path], check=True)


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read with a fresh plain sqlite3 connection (what users do)."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def count(path: Path, table: str) -> int:
    """How many rows ``table`` holds."""
    [(n,)] = query(path, f"SELECT count(*) FROM {table}")
    return int(n)


def tick(n: int = 0, *, symbol: str = "BTCUSDT", ts: int | None = None) -> Tick:
    """A valid tick; ``n`` makes its prices (and, without ``ts``, its time) distinct."""
    return Tick(
        symbol=symbol,
        bid=50_000.0 + n,
        ask=50_000.5 + n,
        ts=1_700_000_000_000_000_000 + n if ts is None else ts,
    )


def execution(ticket: int, *, ts: int = 1_000, entry_price: float = 50_000.0) -> TradeExecution:
    """A BUY of 0.01 at ``entry_price`` that opens position ``ticket``."""
    return TradeExecution(
        ticket=ticket,
        symbol="BTCUSDT",
        direction="BUY",
        entry_price=entry_price,
        volume=0.01,
        stop_loss=entry_price - 500.0,
        take_profit=entry_price + 1_000.0,
        ts=ts,
    )


def position_update(
    ticket: int,
    *,
    ts: int,
    current_price: float,
    status: Literal["open", "modified", "closed"] = "modified",
    event_id: str | None = None,
    **fields: Any,
) -> PositionUpdate:
    """A :class:`PositionUpdate` of ``ticket`` (``event_id`` fresh unless given)."""
    if event_id is not None:
        fields["event_id"] = event_id
    return PositionUpdate(
        ticket=ticket,
        symbol="BTCUSDT",
        status=status,
        current_price=current_price,
        ts=ts,
        **fields,
    )


def recommendation(recommendation_id: str | None = None) -> TradeRecommendation:
    """A BUY recommendation at ``ts`` 100 (a fresh ``recommendation_id`` unless given)."""
    fields = {} if recommendation_id is None else {"recommendation_id": recommendation_id}
    return TradeRecommendation(
        symbol="BTCUSDT",
        direction="BUY",
        entry_price=50_000.0,
        stop_loss=49_500.0,
        take_profit=51_000.0,
        confidence=85.0,
        reasoning="Strong bullish momentum",
        ts=100,
        **fields,
    )


def closing_update(
    ticket: int, *, ts: int, price: float, pnl: float, **fields: Any
) -> PositionUpdate:
    """The update that closes position ``ticket`` at ``price`` with ``pnl`` realized."""
    return position_update(
        ticket, ts=ts, status="closed", current_price=price, close_price=price,
        realized_pnl=pnl, **fields,
    )  # fmt: skip
