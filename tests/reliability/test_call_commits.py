"""A call checks what is committed and returns once its own event is: a reference still
in flight, chains of calls seeing what their earlier calls committed, a lone call that
does not wait for the batch timer."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest

import schemas
from tradebus import ReferenceRefused, UnknownReference, open_node

from ._helpers import count

_MAIN = "unified_tick_pipeline.db"


async def test_a_reference_still_in_flight_is_refused_until_committed(tmp_path: Path) -> None:
    # As events of another process arrive: published to the bus, not yet committed
    # (here: another connection holds the write lock, so the writer holds them).
    execution = schemas.TradeExecution(
        ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
    )
    async with open_node(tmp_path, busy_timeout=0.1, max_backoff=0.1) as node:
        bot = node.integration("chatgpt_bot")
        with closing(sqlite3.connect(tmp_path / _MAIN, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            node.bus.publish_nowait(execution)
            with pytest.raises(UnknownReference, match="ticket 1 has no committed execution"):
                await bot.update_position(ticket=1, symbol="BTCUSDT", current_price=101.0)
            other.execute("ROLLBACK")
        await node.bus.flush()  # committed now
        await bot.update_position(ticket=1, symbol="BTCUSDT", current_price=101.0)
    assert count(tmp_path / _MAIN, "position_updates") == 1


async def test_many_concurrent_call_chains_each_see_what_their_earlier_calls_committed(
    tmp_path: Path,
) -> None:
    # Each chain awaits its recommendation, then its execution, then an update: every
    # check must see what the chain's own earlier calls committed, however many other
    # calls read through the node's shared connections at the same time.
    refused: list[BaseException] = []

    async def chain(ticket: int) -> None:
        try:
            rec = await agent.log_trade_recommendation(
                symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=90.0,
                take_profit=120.0, confidence=70.0, reasoning=str(ticket),
            )  # fmt: skip
            await bot.log_trade_execution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0,
                volume=1.0, recommendation_id=rec,
            )  # fmt: skip
            await bot.update_position(ticket=ticket, symbol="BTCUSDT", current_price=101.0)
        except ReferenceRefused as exc:
            refused.append(exc)

    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        async with anyio.create_task_group() as tg:
            for ticket in range(1, 301):
                tg.start_soon(chain, ticket)
    assert refused == []
    assert count(tmp_path / _MAIN, "position_updates") == 300


async def test_a_lone_call_does_not_wait_for_the_batch_timer(tmp_path: Path) -> None:
    # A writer batching for an hour: a call that waits for its event (and a flush) cuts
    # the batch short, so it returns once its event is committed, not an hour later.
    async with open_node(tmp_path, max_delay=3600.0) as node:
        bot = node.integration("chatgpt_bot")
        with anyio.fail_after(30):
            await bot.log_trade_execution(
                ticket=51, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
            )
            node.bus.publish_nowait(schemas.Tick(symbol="BTCUSDT", bid=100.0, ask=100.5))
            await node.bus.flush()
    assert count(tmp_path / _MAIN, "trade_executions") == 1
    assert count(tmp_path / _MAIN, "unified_ticks") == 1
