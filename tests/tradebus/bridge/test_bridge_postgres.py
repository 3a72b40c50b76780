"""Bots keep SQLite; the shared history is in PostgreSQL: node A -> JetStream -> a
node B whose ``main`` database is kept in PostgreSQL, exactly once across B's
restarts, with bad messages in PostgreSQL's ``dead_letters``."""

from __future__ import annotations

from pathlib import Path

import anyio
import nats
import pytest

from tests.tradebus.bridge._helpers import execution, tick, unique_prefix
from tests.writers._helpers import wait_until
from tests.writers._pg import NewDatabase, pg_database, pg_rows
from tradebus import open_node
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder

__all__ = ["pg_database"]  # the fixture

pytestmark = pytest.mark.timeout(90)


async def _ticks_in(dsn: str) -> list[int]:
    rows = await pg_rows(dsn, "SELECT bid FROM unified_ticks ORDER BY bid")
    return [round(bid - 1000.0) for (bid,) in rows]


async def _executions_in(dsn: str) -> list[int]:
    rows = await pg_rows(dsn, "SELECT ticket FROM trade_executions ORDER BY ticket")
    return [ticket for (ticket,) in rows]


async def test_a_stream_is_consumed_into_postgresql_exactly_once_across_restarts(
    tmp_path: Path, nats_url: str, pg_database: NewDatabase
) -> None:
    main = await pg_database()
    prefix = unique_prefix(tmp_path)
    b = {"roles": ["chatgpt_bot"], "stores": {"main": main}, "candles": None, "monitor": None}

    async def forward(first: int, last: int) -> None:
        async with (
            open_node(tmp_path / "a", roles=["chatgpt_bot"], candles=None, monitor=None) as a,
            JetStreamForwarder(a, nats_url, prefix=prefix, topics=["market.tick.>", "trade.>"]),
        ):
            for n in range(first, last + 1):
                await a.bus.publish(tick(n))
                if n % 25 == 0:
                    await a.bus.publish(execution(n // 25))
            await a.bus.flush()  # JetStream has them all

    async def consume(ticks: int, executions: int) -> None:
        async with (
            open_node(tmp_path / "b", **b) as node,  # type: ignore[arg-type]
            JetStreamConsumer(node, nats_url, prefix=prefix, database="main"),
        ):

            async def stored() -> bool:
                return (
                    len(await _ticks_in(main)) >= ticks
                    and len(await _executions_in(main)) >= executions
                )

            with anyio.fail_after(60):
                await wait_until(stored)

    await forward(1, 300)
    # Something that is no event, on the stream: a dead letter, and the consumer goes on.
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().publish(f"{prefix}.market.tick.S1", b"\xc1 not msgpack")
    finally:
        await client.close()
    await consume(300, 12)
    await forward(301, 500)
    await consume(500, 20)  # a new run resumes after the cursors committed in PostgreSQL
    await consume(500, 20)  # and a third finds nothing new
    assert await _ticks_in(main) == list(range(1, 501))
    assert await _executions_in(main) == list(range(1, 21))
    dead = await pg_rows(main, "SELECT topic, error FROM dead_letters")
    assert len(dead) == 1
    assert dead[0][0] == f"{prefix}.market.tick.S1"
    assert "from NATS" in dead[0][1]
