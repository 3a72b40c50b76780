"""An event stored before, arriving again: with its content it is a no-op (a retry, a
replay in the same big batch, NULLs and floats compared as stored); with other content
it is refused and dead-lettered.

Each test checks what a user reads back: positions, recommendations, their history
tables, and dead letters with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import TradeExecution
from tests.writers._helpers import count, execution, position_update, query, running_writer
from tradebus import open_node
from writers import ANALYSIS, MAIN

from ._helpers import README_EXECUTION as _EXECUTION
from ._helpers import README_RECOMMENDATION as _RECOMMENDATION
from ._helpers import T0 as _T


async def test_a_recommendation_logged_twice_with_its_content_is_stored_once(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        first = await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        again = await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        assert first == again == "rec-1"
    analysis = tmp_path / ANALYSIS.filename
    assert query(
        analysis, "SELECT recommendation_id, confidence, status FROM trade_recommendations"
    ) == [("rec-1", 85.0, "pending")]
    assert count(analysis, "dead_letters") == 0


async def test_an_execution_logged_twice_opens_one_position(tmp_path: Path) -> None:
    # A retry after a lost answer: the same trade, a new event_id and ts.
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        bot = node.integration("chatgpt_bot")
        first = await bot.log_trade_execution(recommendation_id="rec-1", **_EXECUTION)
        retry = await bot.log_trade_execution(recommendation_id="rec-1", **_EXECUTION)
        assert retry == first  # the stored execution, replayed
    main = tmp_path / MAIN.filename
    assert query(main, "SELECT ticket, event_id FROM trade_executions") == [(12_345, first)]
    assert query(main, "SELECT ticket, status, volume, event_id FROM trade_positions") == [
        (12_345, "open", 0.01, first)
    ]
    analysis = tmp_path / ANALYSIS.filename
    assert query(analysis, "SELECT status, ticket FROM trade_recommendations") == [
        ("executed", 12_345)
    ]
    for database in (main, analysis):
        assert count(database, "dead_letters") == 0


async def test_nulls_compare_as_values_in_a_replay(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    bare = TradeExecution(**{**_EXECUTION, "stop_loss": None, "take_profit": None}, ts=_T)
    with_stop = msgspec.structs.replace(bare, stop_loss=49_000.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(bare)
        await bus.flush()
        bus.publish_nowait(bare)  # NULL IS NULL: the same content
        bus.publish_nowait(with_stop)  # NULL vs a value: other content
        with pytest.raises(NotStored, match="another stop_loss"):
            await bus.flush()
    assert query(path, "SELECT stop_loss, take_profit FROM trade_executions") == [(None, None)]
    assert query(path, "SELECT stop_loss FROM trade_positions") == [(None,)]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(with_stop)
    assert "event_id was stored before with another stop_loss" in error


async def test_floats_are_compared_exactly_as_stored(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T, current_price=0.1 * 3)
    same = msgspec.structs.replace(update, current_price=0.30000000000000004)
    rounded = msgspec.structs.replace(update, current_price=0.3)
    async with running_writer(path, MAIN) as (bus, _):
        for event in (update, same, rounded):
            bus.publish_nowait(event)
        with pytest.raises(NotStored, match="another current_price") as info:
            await bus.flush()
        assert info.value.seq == 3  # the rounded one, alone
    assert query(path, "SELECT current_price FROM position_updates") == [(0.1 * 3,)]
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(rounded),)]


async def test_a_big_batch_with_replays_and_one_forgery_keeps_every_lifecycle(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    events: list[Any] = []
    for ticket in range(1, 31):
        events.append(execution(ticket, ts=_T))
        events.extend(
            position_update(ticket, ts=_T + n, current_price=50_000.0 + n, unrealized_pnl=n / 100)
            for n in range(1, 51)
        )
        events.append(position_update(ticket, ts=_T + 51, status="closed", current_price=50_051.0,
                                      close_price=50_051.0, realized_pnl=0.51))  # fmt: skip
    forged = msgspec.structs.replace(events[100], volume=1_000.0, realized_pnl=-1e9)
    batch = []
    for n, event in enumerate(events):
        batch.append(event)
        if n % 7 == 0:
            batch.append(event)  # an identical replay in the same batch
    batch.insert(1_000, forged)  # long after the original
    async with running_writer(path, MAIN, max_batch=10_000, max_delay=0.5) as (bus, actor):
        for event in batch:
            bus.publish_nowait(event)
        with pytest.raises(NotStored, match="another volume") as info:
            await bus.flush()
        assert info.value.more == 0  # the forgery, alone
        assert actor.statistics().dead_letters == 1
    assert query(
        path, "SELECT count(*), min(status), max(status), min(realized_pnl), max(realized_pnl), "
        "max(volume) FROM trade_positions"
    ) == [(30, "closed", "closed", 0.51, 0.51, 0.01)]  # fmt: skip
    assert count(path, "trade_executions") == 30
    assert count(path, "position_updates") == 30 * 51
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(forged),)]
