"""Calls that store two events: an execution or a close that follows a recommendation
also updates the recommendation. Attacks on the pair: one refused by the writer, a
cancel between the two, a close of the recommendation racing or preceding the
position's, a recommendation owned by another node."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import eventbus
import schemas
from schemas import new_event_id
from tradebus import StaleUpdate, open_node

from ._helpers import DATABASE_FILES, count, wait_until
from ._helpers import EXECUTION_CALL as _EXE
from ._helpers import RECOMMENDATION_CALL as _REC
from ._helpers import executed_trade as _executed_trade
from ._helpers import one as _one
from ._helpers import recommendation_state as _recommendation_state

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"


async def test_an_execution_the_writer_refuses_leaves_its_recommendation_pending(
    tmp_path: Path,
) -> None:
    # Two executions race for one ticket, each following its own recommendation: both
    # pass the call's checks (nothing is committed yet), the writer refuses the second.
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    outcomes: dict[str, str | BaseException] = {}
    async with open_node(tmp_path, busy_timeout=0.1, max_backoff=0.1) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        recommendations = [
            await agent.log_trade_recommendation(**_REC, reasoning=reasoning)
            for reasoning in ("a", "b")
        ]
        enqueued = node.bus.subscribe("trade.execution.>")  # sees each execution enqueued

        async def execute(recommendation_id: str) -> None:
            try:
                outcomes[recommendation_id] = await bot.log_trade_execution(
                    **_EXE, recommendation_id=recommendation_id
                )
            except eventbus.NotStored as exc:
                outcomes[recommendation_id] = exc

        with closing(sqlite3.connect(main, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # the main writer waits: nothing commits
            async with anyio.create_task_group() as tg:
                for recommendation_id in recommendations:
                    tg.start_soon(execute, recommendation_id)
                for _ in recommendations:
                    await enqueued.receive()  # both passed their checks
                other.execute("ROLLBACK")
        enqueued.close()
    [refused] = [r for r, outcome in outcomes.items() if isinstance(outcome, BaseException)]
    [stored] = [r for r in recommendations if r != refused]
    assert "this ticket was opened before by another execution" in str(outcomes[refused])
    assert _one(main, "SELECT recommendation_id FROM trade_executions") == (stored,)
    assert _recommendation_state(analysis, stored) == ("executed", 7, None, None)
    # The refused execution left nothing behind: its recommendation was not touched.
    assert _recommendation_state(analysis, refused) == ("pending", None, None, None)
    assert count(analysis, "recommendation_updates", "recommendation_id = ?", refused) == 0


async def test_a_close_the_writer_refuses_leaves_its_recommendation_executed(
    tmp_path: Path,
) -> None:
    # A close under an event_id that another event (another process's, in flight) takes
    # first: the call's check cannot see it; the writer refuses the close.
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    close_id = new_event_id()
    async with open_node(tmp_path, busy_timeout=0.1, max_backoff=0.1) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        recommendation = await agent.log_trade_recommendation(**_REC)
        await bot.log_trade_execution(**_EXE, recommendation_id=recommendation)
        foreign = schemas.PositionUpdate(
            ticket=7, symbol="BTCUSDT", status="modified", current_price=100.5,
            event_id=close_id,
        )  # fmt: skip
        enqueued = node.bus.subscribe("trade.position.>")
        refused: list[BaseException] = []

        async def close() -> None:
            try:
                await bot.close_position(
                    ticket=7, symbol="BTCUSDT", close_price=101.0, realized_pnl=1.0,
                    event_id=close_id,
                )  # fmt: skip
            except eventbus.NotStored as exc:
                refused.append(exc)

        with closing(sqlite3.connect(main, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            node.bus.publish_nowait(foreign)
            async with anyio.create_task_group() as tg:
                tg.start_soon(close)
                for _ in range(2):  # the foreign update, then the close
                    await enqueued.receive()
                other.execute("ROLLBACK")
        enqueued.close()
    [error] = refused
    assert "position_updates: an event with this event_id was stored before" in str(error)
    assert _one(main, "SELECT status FROM trade_positions WHERE ticket = 7") == ("modified",)
    assert _recommendation_state(analysis, recommendation) == ("executed", 7, None, None)
    assert count(analysis, "recommendation_updates", "status = 'closed'") == 0


@pytest.mark.parametrize("call", ["execution", "close"])
async def test_a_call_cancelled_between_its_two_events_is_completed_by_its_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    event_id = new_event_id()
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        recommendation = await agent.log_trade_recommendation(**_REC)
        arguments: dict[str, Any] = {"event_id": event_id}
        method: Callable[..., Awaitable[str]]
        if call == "execution":
            method = bot.log_trade_execution
            arguments |= _EXE | {"recommendation_id": recommendation}
            first_table = "trade_executions"
        else:
            await bot.log_trade_execution(**_EXE, recommendation_id=recommendation)
            method = bot.close_position
            arguments |= {"ticket": 7, "symbol": "BTCUSDT", "close_price": 101.0,
                          "realized_pnl": 1.0}  # fmt: skip
            first_table = "position_updates"
        publish = node.bus.publish
        committed_first: list[int] = []

        async def publish_then_cancel(
            event: Any, topic: str | None = None, *, wait: bool = False
        ) -> int:
            if type(event) is schemas.RecommendationUpdate:
                # The call publishes its second event only once the first is committed.
                committed_first.append(count(main, first_table, "event_id = ?", event_id))
                scope.cancel()  # and is cancelled right there
                await anyio.lowlevel.checkpoint()
            return await publish(event, topic, wait=wait)

        monkeypatch.setattr(node.bus, "publish", publish_then_cancel)
        with anyio.CancelScope() as scope:
            await method(**arguments)
        monkeypatch.undo()
        assert scope.cancelled_caught
        assert committed_first == [1]
        await node.bus.flush()
        before = _recommendation_state(analysis, recommendation)
        assert await method(**arguments) == event_id  # the documented retry
    assert before == (("pending", None, None, None) if call == "execution" else
                      ("executed", 7, None, None))  # fmt: skip
    assert count(main, first_table, "event_id = ?", event_id) == 1
    assert count(analysis, "recommendation_updates", "event_id = ?",
                 schemas.derived_event_id(event_id)) == 1  # fmt: skip
    expected = ("executed", 7, None, None) if call == "execution" else ("closed", 7, "win", 1.0)
    assert _recommendation_state(analysis, recommendation) == expected
    for filename in DATABASE_FILES:
        assert count(tmp_path / filename, "dead_letters") == 0


async def test_a_close_of_a_position_whose_recommendation_is_closed_already_succeeds(
    tmp_path: Path,
) -> None:
    # The recommendation was closed by hand first; the position's close is stored, and
    # the recommendation keeps its own close (it closes once).
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        rec = await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=90.0,
            take_profit=120.0, confidence=70.0,
        )  # fmt: skip
        bot = node.integration("chatgpt_bot")
        await bot.log_trade_execution(
            ticket=5, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
            recommendation_id=rec,
        )  # fmt: skip
        await agent.update_recommendation(
            recommendation_id=rec, status="closed", outcome="loss", realized_pnl=-1.0
        )
        close = await bot.close_position(
            ticket=5, symbol="BTCUSDT", close_price=110.0, realized_pnl=10.0
        )
        # Its retry is a no-op too.
        assert (
            await bot.close_position(
                ticket=5, symbol="BTCUSDT", close_price=110.0, realized_pnl=10.0, event_id=close
            )
            == close
        )
    assert _one(tmp_path / _MAIN, "SELECT status, realized_pnl FROM trade_positions") == (
        "closed",
        10.0,
    )
    assert _one(
        tmp_path / _ANALYSIS, "SELECT status, outcome, realized_pnl FROM trade_recommendations"
    ) == ("closed", "loss", -1.0)
    for database in (_MAIN, _ANALYSIS):
        assert count(tmp_path / database, "dead_letters") == 0


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.002, 0.003])
async def test_a_close_racing_a_close_of_its_recommendation_is_stored_and_returns(
    tmp_path: Path, delay: float
) -> None:
    # Both calls pass their checks; the writer of the recommendation takes one close of
    # it (it closes once). The position's close is stored either way, and its call
    # returns: it is not told "not stored" for the close it did store.
    async with open_node(tmp_path) as node:
        agent, bot, rec = await _executed_trade(node, 11)

        async def close_by_hand() -> None:
            await anyio.sleep(delay)
            # When it loses the race it is told so: refused at its call (it finds the
            # recommendation closed), or by the writer (NotStored).
            with contextlib.suppress(StaleUpdate, eventbus.NotStored):
                await agent.update_recommendation(
                    recommendation_id=rec, status="closed", outcome="loss", realized_pnl=-1.0
                )

        async with anyio.create_task_group() as tg:
            tg.start_soon(close_by_hand)
            await bot.close_position(ticket=11, symbol="BTCUSDT", close_price=110.0,
                                     realized_pnl=10.0)  # fmt: skip
    assert _one(tmp_path / _MAIN, "SELECT status, realized_pnl FROM trade_positions") == (
        "closed",
        10.0,
    )
    status, pnl = _one(
        tmp_path / _ANALYSIS, "SELECT status, realized_pnl FROM trade_recommendations"
    )
    assert (status, pnl) in {("closed", -1.0), ("closed", 10.0)}
    assert count(tmp_path / _ANALYSIS, "recommendation_updates") == 2  # executed, one close


async def test_a_close_whose_recommendation_is_owned_elsewhere_reaches_it_through_the_outbox(
    tmp_path: Path,
) -> None:
    # The trade followed a recommendation; a bot node alone closes the position and
    # its recommendation's close goes to the bot's outbox, with the close, in one
    # transaction; the agent's relay stores it once the agent runs.
    async with open_node(tmp_path) as node:
        await _executed_trade(node, 31)
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as node:
        bot = node.integration("chatgpt_bot")
        await bot.close_position(ticket=31, symbol="BTCUSDT", close_price=110.0,
                                 realized_pnl=10.0)  # fmt: skip
        assert _one(tmp_path / _MAIN, "SELECT status FROM trade_positions") == ("closed",)
        assert _one(tmp_path / _MAIN, "SELECT destination, grp FROM outbox") == ("analysis", 0)
        assert _one(tmp_path / _ANALYSIS, "SELECT status FROM trade_recommendations") == (
            "executed",
        )
        async with open_node(tmp_path, roles=["desktop_agent"]) as agent:
            await node.delivered(timeout=30)
            relay = "unified_tick_pipeline.db -> analysis"
            # The relay counts once its own wait for the commit returns.
            await wait_until(lambda: agent.statistics().relays[relay].delivered == 1)
    assert _one(tmp_path / _ANALYSIS, "SELECT status, outcome FROM trade_recommendations") == (
        "closed",
        "win",
    )
