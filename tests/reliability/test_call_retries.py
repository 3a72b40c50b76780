"""Retries of trade-integration calls under their event_id: a call cancelled at any
of its awaits, timed out, or one that returned, retried, is stored once, and the events
it derives are the same events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

import schemas
from schemas import new_event_id
from tradebus import Node, open_node

from ._helpers import DATABASE_FILES, count, read_only
from ._helpers import one as _one

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"
_LOGS = "system_logs.db"


class Attempts:
    """Runs a call, cancelling its attempts after 0, 1, 2, ... 16 scheduler rounds (so
    at each of its first awaits in turn), then after half as many rounds more each
    time (while it waits for its commit), until one attempt returns.

    Counts the attempts that were cancelled after they had enqueued an event: those
    are the attempts whose event is committed although their call never returned.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.cancelled = 0
        self.cancelled_after_enqueue = 0

    async def until_done(self, call: Callable[[], Awaitable[str]]) -> str:
        rounds = 0
        while True:
            published = self.node.bus.published
            result = await self._attempt(call, rounds)
            if result is not None:
                return result
            self.cancelled += 1
            if self.node.bus.published > published:
                self.cancelled_after_enqueue += 1
            rounds = rounds + 1 if rounds < 16 else rounds * 3 // 2

    @staticmethod
    async def _attempt(call: Callable[[], Awaitable[str]], rounds: int) -> str | None:
        result: str | None = None
        with anyio.CancelScope() as scope:

            async def cancel_after_rounds() -> None:
                for _ in range(rounds):
                    await anyio.lowlevel.checkpoint()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_after_rounds)
                result = await call()
                tg.cancel_scope.cancel()  # done before the cancel: stop the canceller
        return result


async def test_cancelled_calls_retried_with_their_event_id_are_stored_once(
    tmp_path: Path,
) -> None:
    tickets = range(1, 21)
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        agent = node.integration("desktop_agent")
        api = node.integration("api_server")
        attempts = Attempts(node)

        def retried(method: Callable[..., Awaitable[str]], /, **kwargs: Any) -> Awaitable[str]:
            event_id = new_event_id()  # chosen once, before the first attempt
            return attempts.until_done(lambda: method(**kwargs, event_id=event_id))

        for ticket in tickets:
            rec_id = await retried(
                agent.log_trade_recommendation, symbol="BTCUSDT", direction="BUY",
                entry_price=100.0, stop_loss=99.0, take_profit=102.0, confidence=60,
            )  # fmt: skip
            await retried(
                bot.log_trade_execution, ticket=ticket, symbol="BTCUSDT", direction="BUY",
                entry_price=100.0, volume=1.0, recommendation_id=rec_id,
            )  # fmt: skip
            await retried(
                bot.update_position, ticket=ticket, symbol="BTCUSDT", current_price=101.0,
                unrealized_pnl=1.0,
            )  # fmt: skip
            await retried(
                api.log_trade_monitoring, ticket=ticket, symbol="BTCUSDT",
                monitoring_type="take_profit_hit", status="alert_triggered",
            )  # fmt: skip
            await retried(
                bot.close_position, ticket=ticket, symbol="BTCUSDT", close_price=102.0,
                realized_pnl=2.0,
            )  # fmt: skip
            await retried(api.log_trade_alert, alert_type="profit", severity="info", message="+2")
            await retried(
                api.log_api_request, method="POST", path="/trades", status_code=201,
                duration_ms=1.0,
            )  # fmt: skip
        other = await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="SELL", entry_price=100.0, stop_loss=101.0,
            take_profit=98.0, confidence=10,
        )  # fmt: skip
        await retried(agent.update_recommendation, recommendation_id=other, status="rejected")
        await retried(agent.log_analysis_result, kind="k", payload={"a": 1})
        await retried(
            agent.log_trade_analysis, symbol="BTCUSDT", timeframe="M5", regime="trend",
            confluence_score=0.5,
        )  # fmt: skip
        await retried(api.log_system_health, component="feed", status="ok")
        statistics = node.statistics()

    # The attack happened: calls were cancelled, some after their event was enqueued.
    assert attempts.cancelled >= 20
    assert attempts.cancelled_after_enqueue >= 20
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)
    main, analysis, logs = tmp_path / _MAIN, tmp_path / _ANALYSIS, tmp_path / _LOGS
    n = len(tickets)
    for ticket in tickets:
        assert count(main, "trade_executions", "ticket = ?", ticket) == 1
        assert count(main, "position_updates", "ticket = ?", ticket) == 2
        assert count(logs, "trade_monitoring", "ticket = ?", ticket) == 1
        assert _one(
            main, "SELECT status, direction FROM trade_positions WHERE ticket = ?", ticket
        ) == (
            "closed",
            "BUY",
        )
    assert count(analysis, "trade_recommendations") == n + 1
    assert count(analysis, "recommendation_updates", "status = 'executed'") == n
    assert count(analysis, "recommendation_updates", "status = 'closed'") == n
    assert count(analysis, "recommendation_updates", "status = 'rejected'") == 1
    assert count(analysis, "trade_recommendations", "status = 'closed' AND outcome = 'win'") == n
    assert count(logs, "trade_alerts") == n
    assert count(logs, "api_logs") == n
    assert count(analysis, "analysis_results") == 1
    assert count(analysis, "trade_analysis") == 1
    assert count(logs, "system_health") == 1
    for filename in DATABASE_FILES:
        assert count(tmp_path / filename, "dead_letters") == 0


async def test_a_timed_out_call_retried_with_move_on_after_is_stored_once(tmp_path: Path) -> None:
    # The pattern users write: a deadline per attempt, the same event_id every time.
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        for ticket in range(1, 21):
            event_id = new_event_id()
            timeout = 0.0
            while True:
                with anyio.move_on_after(timeout):
                    await bot.log_trade_execution(
                        ticket=ticket, symbol="BTCUSDT", direction="SELL", entry_price=100.0,
                        volume=1.0, event_id=event_id,
                    )  # fmt: skip
                    break
                timeout = timeout * 2 + 0.0005
    main = tmp_path / _MAIN
    assert count(main, "trade_executions") == 20
    assert _one(main, "SELECT count(DISTINCT ticket) FROM trade_executions") == (20,)


async def test_the_derived_events_of_a_retry_are_the_same_events(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        agent = node.integration("desktop_agent")
        rec = await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=99.0,
            take_profit=102.0, confidence=60, event_id=new_event_id(),
        )  # fmt: skip
        execution_id, close_id = new_event_id(), new_event_id()
        for _ in range(3):  # a call that returned, retried anyway: still once
            assert execution_id == await bot.log_trade_execution(
                ticket=5, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
                recommendation_id=rec, event_id=execution_id,
            )  # fmt: skip
        for _ in range(3):
            assert close_id == await bot.close_position(
                ticket=5, symbol="BTCUSDT", close_price=99.5, realized_pnl=-0.5,
                event_id=close_id,
            )  # fmt: skip
    analysis = tmp_path / _ANALYSIS
    with read_only(analysis) as conn:
        updates = conn.execute(
            "SELECT status, event_id, ts FROM recommendation_updates ORDER BY event_id"
        ).fetchall()
    assert [(status, event_id) for status, event_id, _ in updates] == [
        ("executed", schemas.derived_event_id(execution_id)),
        ("closed", schemas.derived_event_id(close_id)),
    ]
    # The ts of a call given an event_id is the id's millisecond: a retry is identical.
    assert [ts for _, _, ts in updates] == [
        schemas.event_id_ts(execution_id) * 1_000_000,
        schemas.event_id_ts(close_id) * 1_000_000,
    ]
    assert _one(analysis, "SELECT status, outcome FROM trade_recommendations") == (
        "closed",
        "loss",
    )


async def test_a_retry_of_an_execution_committed_meanwhile_is_not_a_reuse(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        event_id = new_event_id()
        with anyio.CancelScope() as scope:
            scope.cancel()  # cancelled at its first await: nothing enqueued
            await bot.log_trade_execution(
                ticket=3, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0,
                event_id=event_id,
            )  # fmt: skip
        assert scope.cancelled_caught
        for _ in range(2):
            assert event_id == await bot.log_trade_execution(
                ticket=3, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0,
                event_id=event_id,
            )  # fmt: skip
    assert count(tmp_path / _MAIN, "trade_executions") == 1
