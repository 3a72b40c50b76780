"""Attacks on the integrity of the trade-integration calls: retries of cancelled calls,
caller-chosen event ids, orphans and reused tickets, oversized events."""

from __future__ import annotations

import contextlib
import inspect
import re
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import eventbus
import schemas
from schemas import MAX_EVENT_BYTES, InvalidEvent, RecommendationStatus, new_event_id
from tradebus import (
    AlreadyRecorded,
    Node,
    ReferenceRefused,
    StaleUpdate,
    TradeIntegration,
    UnknownReference,
    open_node,
)

from ._helpers import DATABASE_FILES, count, read_only, wait_until

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


def _one(path: Path, sql: str, *params: object) -> Any:
    with read_only(path) as conn:
        return conn.execute(sql, params).fetchone()


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


# ------------------------------------------------------------------ event ids


@pytest.mark.parametrize(
    "bad",
    ["retry-1", "", new_event_id().upper(), "00000000-0000-4000-8000-000000000000", 7, b"x"],
    ids=repr,
)
async def test_an_event_id_of_the_wrong_format_is_refused_before_anything_is_enqueued(
    tmp_path: Path, bad: Any
) -> None:
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        with pytest.raises(InvalidEvent, match=r"invalid TradeAlert\.event_id: expected a UUIDv7"):
            await api.log_trade_alert(alert_type="risk", severity="info", message="m", event_id=bad)
        assert node.bus.published == 0


async def test_every_logging_method_takes_an_event_id_and_returns_it(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        agent = node.integration("desktop_agent")
        api = node.integration("api_server")
        ids = [new_event_id() for _ in range(12)]
        rec = await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=99.0,
            take_profit=102.0, confidence=60, event_id=ids[0],
        )  # fmt: skip
        assert rec == ids[0]  # without a recommendation_id, it is the event_id
        returned = [
            await agent.update_recommendation(
                recommendation_id=rec, status="expired", event_id=ids[1]
            ),
            await agent.log_trade_analysis(
                symbol="BTCUSDT",
                timeframe="M5",
                regime="r",
                confluence_score=0.1,
                event_id=ids[2],
            ),
            await agent.log_analysis_result(kind="k", event_id=ids[3]),
            await bot.log_trade_execution(
                ticket=1,
                symbol="BTCUSDT",
                direction="BUY",
                entry_price=100.0,
                volume=1.0,
                event_id=ids[4],
            ),
            await bot.update_position(
                ticket=1, symbol="BTCUSDT", current_price=100.5, event_id=ids[5]
            ),
            await bot.close_position(
                ticket=1, symbol="BTCUSDT", close_price=101.0, event_id=ids[6]
            ),
            await api.log_trade_monitoring(
                ticket=1, symbol="BTCUSDT", monitoring_type="t", status="s", event_id=ids[7]
            ),
            await api.log_trade_alert(
                alert_type="risk", severity="info", message="m", event_id=ids[8]
            ),
            await api.log_api_request(
                method="GET", path="/", status_code=200, duration_ms=1.0, event_id=ids[9]
            ),
            await api.log_system_health(component="c", status="ok", event_id=ids[10]),
        ]
        assert returned == ids[1:11]
    stored: set[str] = set()
    for filename in DATABASE_FILES:
        with read_only(tmp_path / filename) as conn:
            tables = [
                name
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%event_id%'"
                )
            ]
            for table in tables:
                if table == "trade_positions":
                    continue  # a state row, whose event_id is the latest event's
                stored.update(row[0] for row in conn.execute(f"SELECT event_id FROM {table}"))
    assert stored == set(ids[:11])


def test_every_logging_method_has_an_event_id_parameter() -> None:
    methods = [
        name
        for name, member in inspect.getmembers(TradeIntegration, _is_coroutine_method)
        if name.startswith(("log_", "update_", "close_"))
    ]
    assert len(methods) == 11
    for name in methods:
        parameter = inspect.signature(getattr(TradeIntegration, name)).parameters["event_id"]
        assert parameter.default is None, name


async def test_an_event_id_reused_in_another_table_is_stored_in_each(tmp_path: Path) -> None:
    # Documented limit: an event_id is unique per table, not checked across tables.
    event_id = new_event_id()
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        await api.log_trade_alert(
            alert_type="risk", severity="info", message="m", event_id=event_id
        )
        await api.log_api_request(
            method="GET", path="/", status_code=200, duration_ms=1.0, event_id=event_id
        )
    logs = tmp_path / _LOGS
    assert count(logs, "trade_alerts", "event_id = ?", event_id) == 1
    assert count(logs, "api_logs", "event_id = ?", event_id) == 1


async def test_an_event_id_reused_for_other_content_is_refused(tmp_path: Path) -> None:
    event_id = new_event_id()
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        await api.log_trade_alert(
            alert_type="risk", severity="info", message="a", event_id=event_id
        )
        with pytest.raises(
            AlreadyRecorded, match="with another message: stored 'a', this call 'b'"
        ):
            await api.log_trade_alert(
                alert_type="risk", severity="info", message="b", event_id=event_id
            )
    assert _one(tmp_path / _LOGS, "SELECT message FROM trade_alerts") == ("a",)


# ------------------------------------------------------------------ references


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


# ------------------------------------------------------------------ oversized


@pytest.mark.parametrize(
    ("method", "argument"),
    [
        ("log_analysis_result", "payload"),
        ("log_trade_analysis", "indicators"),
        ("log_system_health", "details"),
    ],
)
async def test_a_gigabyte_event_is_refused_at_the_call_and_the_node_stays_up(
    tmp_path: Path, method: str, argument: str
) -> None:
    text = "x" * 999_999  # under the per-string cap; one shared object, a megabyte
    payload = {str(n): text for n in range(1_050)}
    arguments: dict[str, dict[str, Any]] = {
        "log_analysis_result": {"kind": "bulk"},
        "log_trade_analysis": {
            "symbol": "BTCUSDT",
            "timeframe": "M5",
            "regime": "r",
            "confluence_score": 0.0,
        },
        "log_system_health": {"component": "feed", "status": "ok"},
    }
    async with open_node(tmp_path) as node:
        integration = node.integration("desktop_agent" if "analysis" in method else "api_server")
        call: Callable[..., Awaitable[str]] = getattr(integration, method)
        with pytest.raises(InvalidEvent, match=rf"over the limit of {MAX_EVENT_BYTES:,} bytes"):
            await call(**arguments[method], **{argument: payload})
        assert node.bus.published == 0
        # The largest event validation admits is stored.
        big = {"a": "y" * 600_000, "b": "z" * 400_000}
        await call(**arguments[method], **{argument: big})
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)


# ------------------------------------------------------- two events in one call

_REC: dict[str, Any] = {
    "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0, "stop_loss": 99.0,
    "take_profit": 102.0, "confidence": 60,
}  # fmt: skip
_EXE: dict[str, Any] = {
    "ticket": 7, "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0, "volume": 1.0,
}  # fmt: skip


def _recommendation_state(path: Path, recommendation_id: str) -> tuple[Any, ...]:
    return tuple(
        _one(
            path,
            "SELECT status, ticket, outcome, realized_pnl FROM trade_recommendations "
            "WHERE recommendation_id = ?",
            recommendation_id,
        )
    )


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


# ------------------------------------------------- an event_id with other content


def _calls(
    ticket: int, recommendation: str
) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(role, method, arguments, a change of one argument) for every logging method."""
    return [
        ("desktop_agent", "log_trade_recommendation", _REC | {"recommendation_id": "r-x"},
         {"confidence": 61}),
        ("desktop_agent", "update_recommendation",
         {"recommendation_id": recommendation, "status": "rejected"}, {"status": "expired"}),
        ("desktop_agent", "log_trade_analysis",
         {"symbol": "BTCUSDT", "timeframe": "M5", "regime": "r", "confluence_score": 0.5,
          "indicators": {"rsi": 1.0}}, {"indicators": {"rsi": 2.0}}),
        ("desktop_agent", "log_analysis_result", {"kind": "k", "payload": {"a": 1}},
         {"payload": {"a": 2}}),
        ("chatgpt_bot", "log_trade_execution", _EXE | {"ticket": ticket}, {"volume": 2.0}),
        ("chatgpt_bot", "update_position",
         {"ticket": 1, "symbol": "BTCUSDT", "current_price": 101.0}, {"current_price": 102.0}),
        ("chatgpt_bot", "close_position",
         {"ticket": 2, "symbol": "BTCUSDT", "close_price": 101.0}, {"close_price": 99.0}),
        ("api_server", "log_trade_monitoring",
         {"ticket": 1, "symbol": "BTCUSDT", "monitoring_type": "t", "status": "s"},
         {"details": "other"}),
        ("api_server", "log_trade_alert",
         {"alert_type": "risk", "severity": "info", "message": "m"}, {"severity": "critical"}),
        ("api_server", "log_api_request",
         {"method": "GET", "path": "/", "status_code": 200, "duration_ms": 1.0},
         {"status_code": 500}),
        ("api_server", "log_system_health", {"component": "c", "status": "ok"},
         {"status": "down"}),
    ]  # fmt: skip


async def test_an_event_id_stored_with_other_content_is_refused_at_the_call(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        recommendation = await agent.log_trade_recommendation(**_REC)
        for ticket in (1, 2):
            await bot.log_trade_execution(**_EXE | {"ticket": ticket})
        calls = _calls(3, recommendation)
        assert {method for _, method, _, _ in calls} == set(_STORED_AT_CALLS)
        for role, method_name, arguments, change in calls:
            method: Callable[..., Awaitable[str]] = getattr(node.integration(role), method_name)
            event_id = new_event_id()
            await method(**arguments, event_id=event_id)
            await method(**arguments, event_id=event_id)  # a retry: a replay, stored once
            published = node.bus.published
            [name] = change
            column = "current_price" if name == "close_price" else name  # stored as both
            with pytest.raises(AlreadyRecorded) as info:
                await method(**arguments | change, event_id=event_id)
            assert node.bus.published == published, method_name  # nothing enqueued
            assert (info.value.field, info.value.value) == ("event_id", event_id)
            message = str(info.value)
            assert f"event_id {event_id} is already stored in" in message
            assert f"with another {column}" in message, message
            assert "nothing was enqueued" in message
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)


_STORED_AT_CALLS = (
    "log_trade_recommendation", "update_recommendation", "log_trade_analysis",
    "log_analysis_result", "log_trade_execution", "update_position", "close_position",
    "log_trade_monitoring", "log_trade_alert", "log_api_request", "log_system_health",
)  # fmt: skip


async def test_a_retry_that_adds_a_recommendation_is_refused_and_touches_nothing(
    tmp_path: Path,
) -> None:
    # An execution logged without its recommendation, "retried" under its event_id
    # naming one: not the same call; refused before anything is enqueued.
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        recommendation = await agent.log_trade_recommendation(**_REC)
        execution_id, close_id = new_event_id(), new_event_id()
        await bot.log_trade_execution(**_EXE, event_id=execution_id)
        published = node.bus.published
        with pytest.raises(AlreadyRecorded, match="with another recommendation_id: stored None"):
            await bot.log_trade_execution(
                **_EXE, recommendation_id=recommendation, event_id=execution_id
            )
        await bot.close_position(ticket=7, symbol="BTCUSDT", close_price=101.0, event_id=close_id)
        published = node.bus.published
        with pytest.raises(AlreadyRecorded, match="with another realized_pnl: stored None"):
            await bot.close_position(
                ticket=7, symbol="BTCUSDT", close_price=101.0, realized_pnl=1.0,
                event_id=close_id,
            )  # fmt: skip
        assert node.bus.published == published
    assert _one(main, "SELECT recommendation_id, realized_pnl FROM trade_positions") == (
        None,
        None,
    )
    assert _recommendation_state(analysis, recommendation) == ("pending", None, None, None)
    assert count(analysis, "recommendation_updates") == 0


# ------------------------------------------------- updates that change nothing


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


# ------------------------------------------------------------ storable values


async def test_ints_beyond_64_bits_in_float_arguments_are_stored_as_floats(
    tmp_path: Path,
) -> None:
    big = 2**63
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        api = node.integration("api_server")
        recommendation = await agent.log_trade_recommendation(**_REC)
        await bot.log_trade_execution(**_EXE, recommendation_id=recommendation)
        await bot.update_position(
            ticket=7, symbol="BTCUSDT", current_price=100.0, unrealized_pnl=big
        )
        await bot.close_position(ticket=7, symbol="BTCUSDT", close_price=101.0, realized_pnl=big)
        await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="SELL", entry_price=big, stop_loss=2**64 - 1,
            take_profit=1.0, confidence=1,
        )  # fmt: skip
        await api.log_api_request(method="GET", path="/", status_code=200, duration_ms=big)
        await agent.log_trade_analysis(
            symbol="BTCUSDT", timeframe="H1", regime="x", confluence_score=big
        )
        tick = schemas.Tick(symbol="BTCUSDT", bid=big, ask=2.0**64)
        with pytest.raises(InvalidEvent, match=r"Tick\.bid: an int in a float field"):
            await node.bus.publish(tick, wait=True)
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    assert _one(main, "SELECT status, realized_pnl, typeof(realized_pnl) FROM trade_positions") == (
        "closed",
        float(big),
        "real",
    )
    assert _recommendation_state(analysis, recommendation) == ("closed", 7, "win", float(big))
    assert _one(tmp_path / _LOGS, "SELECT duration_ms FROM api_logs") == (float(big),)
    assert _one(analysis, "SELECT confluence_score FROM trade_analysis") == (float(big),)


# ------------------------------------------------------------------ id floor


_CLOCK_STEP = """
import sys, time

import anyio

shift_ns = int(sys.argv[2])
real = time.time_ns
time.time_ns = lambda: real() + shift_ns

from tradebus import open_node


async def main(data: str, step: str) -> None:
    async with open_node(data) as node:
        bot = node.integration("chatgpt_bot")
        if step == "ahead":
            await bot.log_trade_execution(
                ticket=12345, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0,
                volume=0.01, stop_loss=49_500.0,
            )
            await bot.update_position(
                ticket=12345, symbol="BTCUSDT", current_price=50_100.0, stop_loss=49_600.0
            )
        else:
            await bot.update_position(
                ticket=12345, symbol="BTCUSDT", current_price=50_300.0, stop_loss=49_800.0
            )


anyio.run(main, sys.argv[1], sys.argv[3])
"""


async def test_a_run_after_one_whose_clock_was_ahead_still_updates_the_position(
    tmp_path: Path,
) -> None:
    # Process 1 runs with its clock an hour ahead; process 2, later, with the right
    # clock, moves the stop again: its update must win (state follows event_id order).
    worker = tmp_path / "clock_step.py"
    worker.write_text(_CLOCK_STEP)
    data = tmp_path / "data"
    for shift, step in ((3_600 * 10**9, "ahead"), (0, "right")):
        result = await anyio.run_process(
            [sys.executable, str(worker), str(data), str(shift), step], check=False
        )
        assert result.returncode == 0, result.stderr.decode()
    # The second run starts a moment after the first: the id it finds is that much
    # less ahead of its clock (3599.4 s is said as 3599 s).
    said = re.search(r"made by a clock (\d+) s ahead of this one", result.stderr.decode())
    assert said is not None
    assert 3_500 <= int(said.group(1)) <= 3_600
    main = data / _MAIN
    assert _one(main, "SELECT stop_loss, current_price FROM trade_positions") == (
        49_800.0,
        50_300.0,
    )
    with read_only(main) as conn:
        updates = conn.execute(
            "SELECT stop_loss FROM position_updates ORDER BY event_id"
        ).fetchall()
    assert updates == [(49_600.0,), (49_800.0,)]


async def test_a_node_makes_ids_after_the_greatest_stored_one_of_the_right_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        await api.log_api_request(method="GET", path="/", status_code=200, duration_ms=1.0)
    # Another program's rows: an id of this millisecond above those this process makes,
    # and ids of other forms (from before validation refused them) that sort above it.
    ms = schemas.event_id_ts(new_event_id())
    h = f"{ms << 80 | 0x7 << 76 | 0xEFF << 64 | 0b10 << 62 | (2**62 - 1):032x}"
    stored = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    with closing(sqlite3.connect(tmp_path / _LOGS, isolation_level=None)) as conn:
        for event_id in (stored, "zzzz", "A", "FFFFFFFF-FFFF-7FFF-BFFF-FFFFFFFFFFFF", " x"):
            conn.execute(
                "INSERT INTO api_logs (method, path, status_code, duration_ms, client, ts, "
                "event_id) VALUES ('GET', '/', 200, 1.0, '', 0, ?)",
                (event_id,),
            )
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600 * 10**9)  # an hour behind
    assert new_event_id() < stored
    async with open_node(tmp_path) as node:
        made = await node.integration("chatgpt_bot").log_trade_alert(
            alert_type="risk", severity="info", message="after"
        )
    assert made > stored
    assert schemas.event_id_ts(made) == ms + 1


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


async def _executed_trade(
    node: Node, ticket: int
) -> tuple[TradeIntegration, TradeIntegration, str]:
    agent = node.integration("desktop_agent")
    bot = node.integration("chatgpt_bot")
    rec = await agent.log_trade_recommendation(
        symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=90.0,
        take_profit=120.0, confidence=70.0, reasoning=str(ticket),
    )  # fmt: skip
    await bot.log_trade_execution(
        ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
        recommendation_id=rec,
    )  # fmt: skip
    return agent, bot, rec


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


async def test_the_same_trade_under_another_caller_chosen_event_id_is_refused(
    tmp_path: Path,
) -> None:
    # An event_id names one event: the same arguments under another id the caller chose
    # are another execution on a used ticket, refused; without an id, a replay.
    trade: dict[str, Any] = {
        "ticket": 41, "symbol": "BTCUSDT", "direction": "BUY", "entry_price": 100.0,
        "volume": 1.0,
    }  # fmt: skip
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        first = await bot.log_trade_execution(**trade)
        with pytest.raises(AlreadyRecorded, match=rf"already used by execution {first}"):
            await bot.log_trade_execution(**trade, event_id=schemas.new_event_id())
        assert await bot.log_trade_execution(**trade) == first
    assert count(tmp_path / _MAIN, "trade_executions") == 1


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


def _is_coroutine_method(member: object) -> bool:
    """A method of TradeIntegration that is a coroutine function under its wrapper."""
    return callable(member) and inspect.iscoroutinefunction(inspect.unwrap(member))
