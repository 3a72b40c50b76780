"""Shared by the bridge's tests: events with recognisable values, and what is stored."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import anyio
import nats
import pytest

from bench.servers import NatsServer, ServerUnavailable
from schemas import Tick, TradeExecution
from tests.reliability._helpers import read_only
from tests.writers._helpers import wait_until
from tradebus import Node, open_node
from tradebus.bridge import JetStreamConsumer, stream_name

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


def bot_node(folder: Path) -> contextlib.AbstractAsyncContextManager[Node]:
    """A node of the bot's role at ``folder``, without its candle service and monitor."""
    return open_node(folder, roles=["chatgpt_bot"], candles=None, monitor=None)


async def make_stream(folder: Path, url: str, prefix: str) -> None:
    """Make the stream of the bot's database under ``prefix``: a consumer into a node
    at ``folder`` makes it as it starts."""
    async with (
        bot_node(folder) as node,
        JetStreamConsumer(node, url, prefix=prefix, database="main"),
    ):
        pass


async def consume_all(path: Path, url: str, prefix: str, **options: object) -> JetStreamConsumer:
    """Run a consumer into the node at ``path`` until it acknowledged the whole stream."""
    client = await nats.connect(url)
    try:
        last = (await client.jetstream().stream_info(stream_name("main", prefix))).state.last_seq
    finally:
        await client.close()
    async with bot_node(path) as node:
        consumer = JetStreamConsumer(node, url, prefix=prefix, database="main", **options)  # type: ignore[arg-type]
        async with consumer:
            with anyio.fail_after(30):
                await wait_until(lambda: consumer.statistics().acked >= last)
    return consumer


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
