"""Invalid values, row by row: build, validate (and admit) and decode refuse each row of
the table with InvalidEvent naming type, field and value; so are stops on the wrong
side of entry."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas import (
    EVENT_TYPES,
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    ExitRule,
    InvalidEvent,
    MonitorMark,
    OcoGroup,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
    admit,
    build,
    decode,
    decode_many,
    encode,
    validate,
)

from ._samples import fields_of
from ._validation_helpers import INF, NAN, a_valid_tick

# (event type, field, bad value): each row is refused by build, validate and decode.
INVALID: list[tuple[type[Event], str, Any]] = [
    # wrong types
    (Tick, "bid", "50000.0"),
    (Tick, "ask", None),
    (Tick, "symbol", 123),
    (Tick, "symbol", ["BTC"]),
    (Tick, "volume", True),
    (Tick, "ts", 1.5),
    (Tick, "ts", "now"),
    (Tick, "source", 7),
    (TradeExecution, "ticket", "12345"),
    (TradeExecution, "ticket", 1.0),
    (TradeExecution, "entry_price", "1"),
    (TradeExecution, "comment", b"bytes"),
    (Candle, "tick_count", 1.5),
    (TickImport, "position", -1),
    (TickImport, "file_hash", ""),
    (TradeAnalysis, "indicators", [1, 2]),
    (SystemHealth, "details", "ok"),
    # NaN and infinities
    (Tick, "bid", NAN),
    (Tick, "ask", INF),
    (Tick, "last", -INF),
    (Tick, "volume", INF),
    (TradeExecution, "entry_price", INF),
    (TradeExecution, "stop_loss", NAN),
    (TradeExecution, "take_profit", INF),
    (PositionUpdate, "unrealized_pnl", NAN),
    (PositionUpdate, "realized_pnl", -INF),
    (RecommendationUpdate, "realized_pnl", INF),
    (TradeAnalysis, "confluence_score", NAN),
    (ApiLog, "duration_ms", INF),
    (Candle, "high", INF),
    # non-positive prices, negative volumes, out-of-range integers
    (Tick, "bid", 0.0),
    (Tick, "ask", -1.0),
    (Tick, "last", 0.0),
    (Tick, "volume", -0.5),
    (TradeExecution, "entry_price", -50000.0),
    (TradeExecution, "volume", 0.0),
    (TradeExecution, "volume", -0.01),
    (TradeExecution, "stop_loss", 0.0),
    (PositionUpdate, "current_price", 0.0),
    (PositionUpdate, "volume", 0.0),
    (Candle, "volume", -1.0),
    (Candle, "tick_count", -1),
    (TradeExecution, "ticket", 0),
    (TradeExecution, "ticket", -5),
    (TradeExecution, "ticket", 2**63),
    (TradeExecution, "ticket", 2**70),
    (Tick, "ts", -1),
    (Tick, "ts", 2**64),
    (ApiLog, "status_code", 600),
    (ApiLog, "duration_ms", -1.0),
    # empty and malformed symbols
    (Tick, "symbol", ""),
    (Tick, "symbol", " BTCUSDT"),
    (Tick, "symbol", "BTC USDT"),
    (Tick, "symbol", "BTCUSDT\n"),
    (Tick, "symbol", ".m"),
    (Tick, "symbol", "X" * 65),
    (Tick, "symbol", "€URUSD"),
    (TradeExecution, "symbol", ""),
    (TradeAlert, "symbol", "bad symbol"),
    (AnalysisResult, "symbol", ""),
    # confidence outside 0-100
    (TradeRecommendation, "confidence", 100.5),
    (TradeRecommendation, "confidence", -1.0),
    (TradeRecommendation, "confidence", NAN),
    # unknown enum values
    (TradeExecution, "direction", "buy"),
    (TradeExecution, "direction", "HOLD"),
    (Candle, "timeframe", "M2"),
    (PositionUpdate, "status", "opened"),
    (RecommendationUpdate, "status", "done"),
    (RecommendationUpdate, "outcome", "draw"),
    (TradeAlert, "alert_type", "danger"),
    (TradeAlert, "severity", "fatal"),
    (SystemHealth, "status", "up"),
    (ExitRule, "atr_timeframe", "M2"),
    (ExitRule, "atr_period", 0),
    (ExitRule, "trailing_distance", -1.0),
    (OcoGroup, "tickets", [1]),
    (OcoGroup, "tickets", [1, 1]),
    (OcoGroup, "tickets", [1, 0]),
    (MonitorMark, "severity", "fatal"),
    (ApiLog, "method", "get"),
    # empty names, huge strings
    (AnalysisResult, "kind", ""),
    (RecommendationUpdate, "recommendation_id", ""),
    (TradeExecution, "comment", "x" * 70_000),
    (TradeRecommendation, "reasoning", "y" * 100_000),
    (Tick, "source", "z" * 300),
    (TradeMonitoring, "ticket", 0),
    (TradeMonitoring, "monitoring_type", ""),
    (TradeMonitoring, "symbol", "a b"),
    (TradeMonitoring, "details", 5),
    # cross-field rules
    (Candle, "high", 1.05),
    (Candle, "low", 1.12),
    (PositionUpdate, "close_price", 1.0),  # paired with status="open" below
    (RecommendationUpdate, "outcome", "win"),  # paired with status="pending" below
]


# Rows that need another field changed too to break a cross-field rule.
_ALSO: dict[tuple[type[Event], str], dict[str, Any]] = {
    (PositionUpdate, "close_price"): {"status": "open"},
    (RecommendationUpdate, "outcome"): {"status": "pending"},
}


def _bad_fields(cls: type[Event], field: str, value: Any) -> dict[str, Any]:
    fields = fields_of(cls)
    if (cls, field) in _ALSO and value in ("win", 1.0):
        fields.update(_ALSO[(cls, field)])
    fields[field] = value
    return fields


def _assert_names(exc: InvalidEvent, cls: type[Event], field: str, value: Any) -> None:
    assert exc.event_type == cls.__name__
    assert exc.field == field
    message = str(exc)
    assert f"{cls.__name__}.{field}" in message
    assert repr(value)[:40] in message
    assert len(message) < 1_000  # a huge value is shortened, not dumped


def _row_id(row: tuple[type[Event], str, Any]) -> str:
    return f"{row[0].__name__}.{row[1]}={row[2]!r:.20}"


@pytest.mark.parametrize(("cls", "field", "value"), INVALID, ids=map(_row_id, INVALID))
def test_build_refuses_an_invalid_value_naming_type_field_and_value(
    cls: type[Event], field: str, value: Any
) -> None:
    with pytest.raises(InvalidEvent) as info:
        build(cls, **_bad_fields(cls, field, value))
    _assert_names(info.value, cls, field, value)


@pytest.mark.parametrize(("cls", "field", "value"), INVALID, ids=map(_row_id, INVALID))
def test_validate_refuses_an_event_built_in_code_with_an_invalid_value(
    cls: type[Event], field: str, value: Any
) -> None:
    # A valid event of the same symbol first, so that the tick fast path is taken.
    validate(cls(**fields_of(cls)))
    event = cls(**_bad_fields(cls, field, value))
    with pytest.raises(InvalidEvent) as info:
        validate(event)
    _assert_names(info.value, cls, field, value)
    with pytest.raises(InvalidEvent):
        admit(event)


def _encoded(cls: type[Event], field: str, value: Any) -> bytes | None:
    """The bad row as msgpack, as it could arrive from elsewhere (None: not representable)."""
    try:
        return msgspec.msgpack.encode([cls.__name__, *_bad_fields(cls, field, value).values()])
    except OverflowError:  # integers beyond 64 bits
        return None


ENCODABLE = [row for row in INVALID if _encoded(*row) is not None]


def test_almost_every_invalid_row_can_be_encoded() -> None:
    assert len(INVALID) - len(ENCODABLE) == 2


@pytest.mark.parametrize(("cls", "field", "value"), ENCODABLE, ids=map(_row_id, ENCODABLE))
def test_decode_refuses_encoded_data_with_an_invalid_value(
    cls: type[Event], field: str, value: Any
) -> None:
    data = _encoded(cls, field, value)
    assert data is not None
    with pytest.raises(InvalidEvent) as info:
        decode(data)
    assert info.value.event_type == cls.__name__
    assert info.value.field == field
    with pytest.raises(InvalidEvent):
        decode_many([encode(a_valid_tick()), data])


def test_every_event_type_is_covered_by_the_invalid_table() -> None:
    assert {cls for cls, _, _ in INVALID} == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("cls", "direction", "field", "value"),
    [
        (cls, direction, field, value)
        for cls in (TradeExecution, TradeRecommendation)
        for direction, field, value in [
            ("BUY", "stop_loss", 101.0),
            ("BUY", "stop_loss", 100.0),
            ("BUY", "take_profit", 99.0),
            ("BUY", "take_profit", 100.0),
            ("SELL", "stop_loss", 99.0),
            ("SELL", "stop_loss", 100.0),
            ("SELL", "take_profit", 101.0),
            ("SELL", "take_profit", 100.0),
        ]
    ],
)
def test_stop_loss_and_take_profit_on_the_wrong_side_of_entry_are_refused(
    cls: type[Event], direction: str, field: str, value: float
) -> None:
    good = {"BUY": (95.0, 110.0), "SELL": (105.0, 90.0)}[direction]
    fields = fields_of(cls) | {
        "direction": direction,
        "entry_price": 100.0,
        "stop_loss": good[0],
        "take_profit": good[1],
    }
    build(cls, **fields)  # the right sides are accepted
    fields[field] = value
    with pytest.raises(InvalidEvent) as info:
        build(cls, **fields)
    _assert_names(info.value, cls, field, value)
    assert direction in str(info.value)


def test_an_execution_without_stops_is_valid() -> None:
    fields = fields_of(TradeExecution) | {"stop_loss": None, "take_profit": None}
    assert build(TradeExecution, **fields).stop_loss is None
