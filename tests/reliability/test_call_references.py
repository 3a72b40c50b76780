"""What a trade call refers to must be committed and not used already: orphan calls,
a reused ticket, a second close, a reused recommendation_id, a recommendation executed
twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import new_event_id
from tradebus import AlreadyRecorded, StaleUpdate, UnknownReference, open_node

from ._helpers import count
from ._helpers import executed_trade as _executed_trade
from ._helpers import one as _one

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"


async def test_orphan_calls_are_refused_naming_what_they_reference(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        agent = node.integration("desktop_agent")
        with pytest.raises(UnknownReference, match=r"ticket 404 has no committed execution"):
            await bot.close_position(ticket=404, symbol="BTCUSDT", close_price=1.0)
        with pytest.raises(UnknownReference, match=r"ticket 404 has no committed execution"):
            await bot.update_position(ticket=404, symbol="BTCUSDT", current_price=1.0)
        with pytest.raises(UnknownReference, match=r"'does-not-exist' has no committed rec"):
            await agent.update_recommendation(recommendation_id="does-not-exist", status="expired")
        with pytest.raises(UnknownReference, match=r"'does-not-exist' has no committed rec"):
            await bot.log_trade_execution(
                ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0,
                recommendation_id="does-not-exist",
            )  # fmt: skip
        assert node.bus.published == 0
    main = tmp_path / _MAIN
    assert count(main, "trade_positions") == 0
    assert count(main, "trade_executions") == 0
    assert count(tmp_path / _ANALYSIS, "recommendation_updates") == 0


async def test_a_reused_ticket_and_a_second_close_are_refused(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        first = await bot.log_trade_execution(
            ticket=9, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        )
        with pytest.raises(
            AlreadyRecorded, match=rf"ticket 9 is already used by .*{first}"
        ) as info:
            await bot.log_trade_execution(
                ticket=9, symbol="BTCUSDT", direction="SELL", entry_price=2.0, volume=5.0
            )
        assert (info.value.field, info.value.value) == ("ticket", 9)
        close = await bot.close_position(ticket=9, symbol="BTCUSDT", close_price=1.5)
        with pytest.raises(AlreadyRecorded, match=rf"position 9 is already closed \(by {close}\)"):
            await bot.close_position(ticket=9, symbol="BTCUSDT", close_price=0.5)
        published = node.bus.published
        # A retry of the very same calls (same event_id) is not a reuse.
        await bot.close_position(ticket=9, symbol="BTCUSDT", close_price=1.5, event_id=close)
        assert node.bus.published == published + 1
    main = tmp_path / _MAIN
    assert _one(main, "SELECT direction, entry_price, volume FROM trade_executions") == (
        "BUY",
        1.0,
        1.0,
    )
    assert _one(main, "SELECT status, close_price FROM trade_positions") == ("closed", 1.5)
    assert count(main, "position_updates") == 1


async def test_a_reused_recommendation_id_is_refused(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        fields: dict[str, Any] = {
            "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0, "stop_loss": 99.0,
            "take_profit": 102.0, "confidence": 60, "recommendation_id": "rec-1",
        }  # fmt: skip
        event_id = new_event_id()
        await agent.log_trade_recommendation(**fields, event_id=event_id)
        await agent.log_trade_recommendation(**fields, event_id=event_id)  # a retry
        with pytest.raises(AlreadyRecorded, match=r"'rec-1' is already used"):
            await agent.log_trade_recommendation(**fields | {"confidence": 90})
    assert _one(tmp_path / _ANALYSIS, "SELECT confidence FROM trade_recommendations") == (60.0,)


async def test_a_recommendation_leads_to_one_trade(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        _agent, bot, rec = await _executed_trade(node, 21)
        with pytest.raises(AlreadyRecorded, match=r"was executed by ticket 21"):
            await bot.log_trade_execution(
                ticket=22, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
                recommendation_id=rec,
            )  # fmt: skip
        retry_of = await bot.log_trade_execution(  # the same trade again: a replay
            ticket=21, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
            recommendation_id=rec,
        )  # fmt: skip
        await bot.close_position(ticket=21, symbol="BTCUSDT", close_price=110.0, realized_pnl=10.0)
        with pytest.raises(StaleUpdate, match=r"is closed .* not executed again"):
            await bot.log_trade_execution(
                ticket=23, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
                recommendation_id=rec,
            )  # fmt: skip
        # A retry of the first execution, after its trade closed, still passes.
        assert await bot.log_trade_execution(
            ticket=21, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
            recommendation_id=rec, event_id=retry_of,
        ) == retry_of  # fmt: skip
    assert count(tmp_path / _MAIN, "trade_executions") == 1
    assert _one(tmp_path / _ANALYSIS, "SELECT status, ticket FROM trade_recommendations") == (
        "closed",
        21,
    )
