"""Hostile arguments to the trade-integration calls: every logging method, fuzzed with
plausible values mixed with hostile ones, stores its event once or refuses the call
before anything is enqueued."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import schemas
from schemas import InvalidEvent
from tradebus import Node, ReferenceRefused, TradeIntegration, open_node

from ._helpers import DATABASE_FILES, SOAK, is_coroutine_method, read_only
from ._helpers import NASTY_TEXT as _NASTY_TEXT
from ._helpers import SQL_INJECTION as _SQL

_NODE_EXAMPLES = 300 if SOAK else 25


def deep(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth):
        payload = {"x": payload}
    return payload


# Arguments of the integration methods: plausible values (so that validation gets
# past the first field) mixed with hostile ones.
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    # Few tickets: later calls of an example update, close or reuse earlier ones.
    "ticket": st.integers(1, 4),
    "event_id": st.builds(schemas.new_event_id),
    "symbol": st.sampled_from(["BTCUSDT", "EURUSD.m", "XAUUSD"]),
    "direction": st.sampled_from(["BUY", "SELL"]),
    "entry_price": st.just(100.0),
    "stop_loss": st.sampled_from([90.0, 110.0]),
    "take_profit": st.sampled_from([90.0, 110.0]),
    "current_price": st.floats(1, 1000),
    "close_price": st.floats(1, 1000),
    "volume": st.floats(0.01, 10),
    "confidence": st.floats(0, 100),
    "realized_pnl": st.floats(-1e6, 1e6),
    "unrealized_pnl": st.floats(-1e6, 1e6),
    "confluence_score": st.floats(-1, 1),
    "status_code": st.integers(100, 599),
    "duration_ms": st.floats(0, 1e4),
    "method": st.sampled_from(["GET", "POST"]),
    "path": st.sampled_from(["/api/trades", "/x?q=" + _SQL]),
    "status": st.sampled_from(["ok", "alert_triggered", "executed", "rejected"]),
    "alert_type": st.sampled_from(["risk", "profit", "system"]),
    "severity": st.sampled_from(["info", "warning", "critical"]),
    "timeframe": st.sampled_from(["M5", "H1"]),
    "indicators": st.dictionaries(st.sampled_from(["rsi", _SQL]), st.floats(0, 100)),
    "payload": st.dictionaries(st.sampled_from(["a", _SQL]), st.integers()),
    "details": st.one_of(st.sampled_from(_NASTY_TEXT), st.just({"why": _SQL})),
}
_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(_NASTY_TEXT),
    st.integers(min_value=1, max_value=3).map(lambda n: "y" * (70_000 * n)),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.floats(allow_nan=True), max_size=3),
    st.sampled_from([deep(40), deep(1_000), {1: "int key"}, {"s": {1, 2}}, Decimal("1.5")]),
    st.sampled_from([object(), math.nan, -0.0, float("inf"), 2**64, b"\xff", ("t",)]),
)


_METHODS: list[str] = sorted(
    name
    for name, member in inspect.getmembers(TradeIntegration, is_coroutine_method)
    if name.startswith(("log_", "update_", "close_"))
)


@st.composite
def integration_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A method and its arguments: plausible ones, none to a few of them hostile."""
    method = draw(st.sampled_from(_METHODS))
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(getattr(TradeIntegration, method)).parameters.items():
        if name == "self":
            continue
        optional = parameter.default is not inspect.Parameter.empty
        if optional and draw(st.booleans()):
            continue
        kwargs[name] = draw(_PLAUSIBLE.get(name, st.text(min_size=1, max_size=20)), label=name)
    for name in draw(st.lists(st.sampled_from(sorted(kwargs) or ["-"]), max_size=2, unique=True)):
        kwargs[name] = draw(_hostile, label=f"hostile {name}")
    return method, kwargs


#: Where each method's event lands: database file, table, and the column its result names.
_STORED_AT = {
    "log_trade_execution": ("unified_tick_pipeline.db", "trade_executions", "event_id"),
    "update_position": ("unified_tick_pipeline.db", "position_updates", "event_id"),
    "close_position": ("unified_tick_pipeline.db", "position_updates", "event_id"),
    "update_recommendation": ("analysis_data.db", "recommendation_updates", "event_id"),
    "log_trade_recommendation": (
        "analysis_data.db",
        "trade_recommendations",
        "recommendation_id",
    ),
    "log_trade_analysis": ("analysis_data.db", "trade_analysis", "event_id"),
    "log_analysis_result": ("analysis_data.db", "analysis_results", "event_id"),
    "log_trade_monitoring": ("system_logs.db", "trade_monitoring", "event_id"),
    "log_trade_alert": ("system_logs.db", "trade_alerts", "event_id"),
    "log_api_request": ("system_logs.db", "api_logs", "event_id"),
    "log_system_health": ("system_logs.db", "system_health", "event_id"),
}


def test_every_logging_method_is_fuzzed() -> None:
    assert set(_METHODS) == set(_STORED_AT)


async def _call(node: Node, method: str, kwargs: dict[str, Any]) -> object:
    integration = node.integration("chatgpt_bot")
    call: Callable[..., Any] = getattr(integration, method)
    return await call(**kwargs)


@settings(max_examples=_NODE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(integration_calls(), min_size=1, max_size=8))
async def test_integration_accepts_or_rejects_hostile_arguments(
    tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    data = tmp_path_factory.mktemp("hostile")  # a new data directory per example
    accepted: list[tuple[str, object]] = []
    async with open_node(data) as node:
        for ticket in (1, 2):  # positions to update and close; tickets 3 and 4 are free
            await node.integration("chatgpt_bot").log_trade_execution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
            )
        published = node.bus.published
        for method, kwargs in calls:
            try:
                result = await _call(node, method, kwargs)
            except (InvalidEvent, ReferenceRefused):
                assert node.bus.published == published, "a refused call enqueued something"
                continue
            assert isinstance(result, str)
            published = node.bus.published
            accepted.append((method, result))
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert writer.dead_letters == 0, writer
        assert writer.last_error is None
    for method, result in accepted:
        filename, table, column = _STORED_AT[method]
        with read_only(data / filename) as conn:
            sql = f"SELECT count(*) FROM {table} WHERE {column} = ?"
            assert conn.execute(sql, (result,)).fetchone() == (1,), (method, result)
    for filename in DATABASE_FILES:
        with read_only(data / filename) as conn:
            assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
