"""The trade-integration API is typed with the schemas' own Literal types: a type
checker refuses ``direction="buy"`` where the event would refuse it at run time."""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin, get_type_hints

import schemas
from tradebus import TradeIntegration

# Each call and the event type it builds from its arguments.
CALLS: dict[str, type[schemas.Event]] = {
    "log_trade_recommendation": schemas.TradeRecommendation,
    "update_recommendation": schemas.RecommendationUpdate,
    "log_trade_analysis": schemas.TradeAnalysis,
    "log_analysis_result": schemas.AnalysisResult,
    "log_trade_execution": schemas.TradeExecution,
    "update_position": schemas.PositionUpdate,
    "close_position": schemas.PositionUpdate,
    "log_trade_monitoring": schemas.TradeMonitoring,
    "log_trade_alert": schemas.TradeAlert,
    "log_api_request": schemas.ApiLog,
    "log_system_health": schemas.SystemHealth,
    "recommendations": schemas.RecommendationUpdate,
}


def _literal(hint: Any) -> Any:
    """The Literal type in ``hint`` (``Direction`` in ``Direction | None``), or None."""
    if get_origin(hint) is Literal:
        return hint
    found = [arg for arg in get_args(hint) if get_origin(arg) is Literal]
    return found[0] if found else None


def test_every_call_is_listed() -> None:
    calls = {
        name
        for name, member in inspect.getmembers(TradeIntegration, _is_coroutine_method)
        if name.startswith(("log_", "update_", "close_"))
    }
    assert calls == set(CALLS) - {"recommendations"}


def test_every_choice_of_an_event_is_typed_with_the_schemas_literal() -> None:
    checked = []
    for name, event_type in CALLS.items():
        method = getattr(TradeIntegration, name)
        parameters = get_type_hints(method)
        fields = get_type_hints(event_type)
        for parameter, hint in parameters.items():
            expected = _literal(fields.get(parameter))
            if expected is None:
                continue
            assert _literal(hint) == expected, f"{name}({parameter}: {hint})"
            checked.append(f"{name}.{parameter}")
    assert sorted(checked) == [
        "log_system_health.status",
        "log_trade_alert.alert_type",
        "log_trade_alert.severity",
        "log_trade_execution.direction",
        "log_trade_recommendation.direction",
        "recommendations.status",
        "update_recommendation.outcome",
        "update_recommendation.status",
    ]


def test_the_literal_types_are_exported_by_schemas() -> None:
    for name in ("Direction", "RecommendationStatus", "Outcome", "AlertType", "Severity"):
        assert get_origin(getattr(schemas, name)) is Literal
    assert get_origin(schemas.HealthStatus) is Literal


def _is_coroutine_method(member: object) -> bool:
    """A method of TradeIntegration that is a coroutine function under its wrapper."""
    return callable(member) and inspect.iscoroutinefunction(inspect.unwrap(member))
