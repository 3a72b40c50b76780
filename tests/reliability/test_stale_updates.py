"""Updates that would change nothing, or contradict themselves, refused at the call: an
update of a closed position, a recommendation moved back to an earlier stage, an outcome
against the sign of the P&L; updates that move a recommendation forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import InvalidEvent, RecommendationStatus
from tradebus import ReferenceRefused, StaleUpdate, open_node

from ._helpers import EXECUTION_CALL as _EXE
from ._helpers import RECOMMENDATION_CALL as _REC
from ._helpers import count
from ._helpers import one as _one
from ._helpers import recommendation_state as _recommendation_state

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"


async def test_an_update_of_a_closed_position_is_refused(tmp_path: Path) -> None:
    main = tmp_path / _MAIN
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        await bot.log_trade_execution(**_EXE)
        before_close = await bot.update_position(
            ticket=7, symbol="BTCUSDT", current_price=100.5, stop_loss=99.5
        )
        close = await bot.close_position(ticket=7, symbol="BTCUSDT", close_price=101.0)
        published = node.bus.published
        with pytest.raises(StaleUpdate) as info:
            await bot.update_position(ticket=7, symbol="BTCUSDT", current_price=102.0)
        assert node.bus.published == published
        assert str(info.value) == (
            f"position 7 is closed (by {close}) in {_MAIN}: a close is final, so this "
            "update would change nothing; nothing was enqueued"
        )
        assert (info.value.field, info.value.value, info.value.status) == ("ticket", 7, "closed")
        assert isinstance(info.value, ReferenceRefused)
        # A retry of an update stored before the close is a replay: it passes.
        assert before_close == await bot.update_position(
            ticket=7, symbol="BTCUSDT", current_price=100.5, stop_loss=99.5,
            event_id=before_close,
        )  # fmt: skip
    assert _one(main, "SELECT status, current_price FROM trade_positions") == ("closed", 101.0)
    assert count(main, "position_updates") == 2


@pytest.mark.parametrize(
    ("path", "late"),
    [
        (["executed"], "pending"),
        (["executed"], "rejected"),
        (["executed"], "expired"),
        (["rejected"], "pending"),
        (["executed", "closed"], "pending"),
        (["executed", "closed"], "rejected"),
        (["executed", "closed"], "executed"),
        (["executed", "closed"], "closed"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else v,
)
async def test_an_update_to_an_earlier_stage_of_a_recommendation_is_refused(
    tmp_path: Path, path: list[RecommendationStatus], late: RecommendationStatus
) -> None:
    analysis = tmp_path / _ANALYSIS
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        recommendation = await agent.log_trade_recommendation(**_REC)
        ids = [
            await agent.update_recommendation(recommendation_id=recommendation, status=status)
            for status in path
        ]
        published = node.bus.published
        with pytest.raises(StaleUpdate) as info:
            await agent.update_recommendation(recommendation_id=recommendation, status=late)
        assert node.bus.published == published
        assert str(info.value).startswith(
            f"recommendation {recommendation!r} is {path[-1]} (by {ids[-1]}) in {_ANALYSIS}: "
            "its status only moves forward (pending < rejected = expired < executed < "
            f"closed; closed is final), so an update to {late!r} would change nothing"
        )
        assert (info.value.field, info.value.value, info.value.status) == (
            "recommendation_id",
            recommendation,
            path[-1],
        )
        # A retry of an update stored before (under its event_id) still passes.
        assert ids[0] == await agent.update_recommendation(
            recommendation_id=recommendation, status=path[0], event_id=ids[0]
        )
    assert _one(analysis, "SELECT status FROM trade_recommendations") == (path[-1],)
    assert count(analysis, "recommendation_updates") == len(path)


async def test_updates_that_move_a_recommendation_forward_pass(tmp_path: Path) -> None:
    analysis = tmp_path / _ANALYSIS
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        recommendation = await agent.log_trade_recommendation(**_REC)
        statuses: tuple[RecommendationStatus, ...] = (
            "pending", "expired", "rejected", "executed", "executed", "closed",
        )  # fmt: skip
        for status in statuses:
            await agent.update_recommendation(recommendation_id=recommendation, status=status)
    assert _one(analysis, "SELECT status FROM trade_recommendations") == ("closed",)
    assert count(analysis, "recommendation_updates") == 6


async def test_an_outcome_against_the_sign_of_the_pnl_is_refused_at_the_call(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        recommendation = await agent.log_trade_recommendation(**_REC)
        with pytest.raises(InvalidEvent, match=r"outcome: contradicts realized_pnl -100\.0"):
            await agent.update_recommendation(
                recommendation_id=recommendation, status="closed", outcome="win",
                realized_pnl=-100,
            )  # fmt: skip
        assert node.bus.published == 1
    assert _recommendation_state(tmp_path / _ANALYSIS, recommendation)[0] == "pending"
