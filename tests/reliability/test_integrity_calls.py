"""Attacks on the integrity of the trade-integration calls: retries of cancelled calls,
caller-chosen event ids, orphans and reused tickets, oversized events."""

from __future__ import annotations

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
from schemas import MAX_EVENT_BYTES, InvalidEvent, new_event_id
from tradebus import (
    AlreadyRecorded,
    Node,
    TradeIntegration,
    UnknownReference,
    open_node,
)

from ._helpers import DATABASE_FILES, count, read_only

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
    import inspect

    methods = [
        name
        for name, member in inspect.getmembers(TradeIntegration, inspect.iscoroutinefunction)
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


@pytest.mark.skipif(
    not hasattr(eventbus, "NotStored"), reason="needs eventbus.NotStored (a refused event)"
)
async def test_an_event_id_reused_for_other_content_is_not_stored(tmp_path: Path) -> None:
    event_id = new_event_id()
    not_stored: type[Exception] = eventbus.NotStored  # type: ignore[attr-defined,unused-ignore]
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        await api.log_trade_alert(
            alert_type="risk", severity="info", message="a", event_id=event_id
        )
        with pytest.raises(not_stored):
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
