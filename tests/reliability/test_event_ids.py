"""Caller-chosen event ids: the form an id must have (at a call, on the bus, off the
wire), every logging method taking and returning one, and an id reused (in another
table, for other content, for the same trade) by a call."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import schemas
from schemas import InvalidEvent, PositionUpdate, new_event_id
from tradebus import AlreadyRecorded, TradeIntegration, open_node

from ._helpers import DATABASE_FILES, count, read_only
from ._helpers import EXECUTION_CALL as _EXE
from ._helpers import RECOMMENDATION_CALL as _REC
from ._helpers import is_coroutine_method as _is_coroutine_method
from ._helpers import one as _one
from ._helpers import read_rows as _rows
from ._helpers import recommendation_state as _recommendation_state

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"
_LOGS = "system_logs.db"


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


@pytest.mark.parametrize(
    "bad",
    ["zzzz", "A", schemas.new_event_id().upper(), " x ", "\u202e", "0" * 36],
    ids=repr,
)
async def test_an_event_id_of_another_form_is_refused_from_the_bus_and_the_wire(
    tmp_path: Path, bad: str
) -> None:
    # Text order of event_ids decides a position's state: an id of another form would
    # sort anywhere (after every UUIDv7, for "zzzz") and hold the state for ever.
    update = PositionUpdate(
        ticket=7, symbol="BTCUSDT", status="modified", current_price=150.0, event_id=bad
    )
    async with open_node(tmp_path) as node:
        with pytest.raises(
            InvalidEvent, match=r"invalid PositionUpdate\.event_id: expected a UUID"
        ):
            await node.bus.publish(update, wait=True)
        assert node.bus.published == 0
        # From another process, encoded: a node's bus decodes and validates it first.
        with pytest.raises(InvalidEvent, match=r"PositionUpdate\.event_id: expected a UUID"):
            await node.bus.publish_encoded(schemas.encode(update), update.topic, wait=True)
        assert node.bus.published == 0
    main = tmp_path / "unified_tick_pipeline.db"
    assert _rows(main, "position_updates") == []
    assert _rows(main, "SELECT error FROM dead_letters") == []


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
