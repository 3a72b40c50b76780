"""Shared by the bridge's tests: events with recognisable values, and what is stored."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench.servers import NatsServer, ServerUnavailable
from schemas import Tick, TradeExecution
from tests.reliability._helpers import read_only
from tradebus import open_node
from tradebus.bridge import JetStreamConsumer

MAIN = "unified_tick_pipeline.db"
_prefixes = itertools.count(1)


def unique_prefix(tmp_path: Path) -> str:
    """A subject prefix no other test of the session uses (its streams are its own)."""
    return f"t{abs(hash(str(tmp_path))) % 10**8}n{next(_prefixes)}"


def private_nats(folder: Path) -> NatsServer:
    """A NATS server of the test's own (for tests that kill it), started; the test is
    skipped, with the reason, where none can be started."""
    try:
        server = NatsServer(folder)
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"no NATS server: {exc}")
    return server


async def make_stream(folder: Path, url: str, prefix: str) -> None:
    """Make the stream of the bot's database under ``prefix``: a consumer into a node
    at ``folder`` makes it as it starts."""
    async with (
        open_node(folder, roles=["chatgpt_bot"], candles=None, monitor=None) as node,
        JetStreamConsumer(node, url, prefix=prefix, database="main"),
    ):
        pass


def tick(n: int, symbols: int = 4) -> Tick:
    """Tick number ``n``: its bid says which it is."""
    return Tick(symbol=f"S{n % symbols}", bid=1000.0 + n, ask=1000.5 + n, ts=1_000_000 + n)


def execution(n: int) -> TradeExecution:
    """Execution number ``n``: its ticket says which it is."""
    return TradeExecution(ticket=n, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=1.0)


def stored_tick_numbers(path: Path) -> list[int]:
    """The numbers of the ticks stored, one per row (so duplicates show)."""
    if not path.exists():
        return []
    with read_only(path) as conn:
        rows = conn.execute("SELECT bid FROM unified_ticks ORDER BY bid").fetchall()
    return [round(bid - 1000.0) for (bid,) in rows]


def stored_executions(path: Path) -> list[int]:
    """The tickets of the executions stored, one per row (so duplicates show)."""
    with read_only(path) as conn:
        rows = conn.execute("SELECT ticket FROM trade_executions ORDER BY ticket").fetchall()
    return [ticket for (ticket,) in rows]


def dead_letters(path: Path) -> list[tuple[str, int | None, str]]:
    with read_only(path) as conn:
        return conn.execute("SELECT topic, cursor, error FROM dead_letters ORDER BY id").fetchall()
