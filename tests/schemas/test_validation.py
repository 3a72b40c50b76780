"""Validation: bad values are refused with InvalidEvent naming type, field and value."""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    check_symbol,
    decode,
    decode_many,
    encode,
    from_dict,
    validate,
)
from schemas import _validate as validate_module
from schemas._symbols import SYMBOL_RE

from ._samples import fields_of, sample_events

PROPERTY = settings(max_examples=100, deadline=None)
NAN = math.nan
INF = math.inf
MAX_INT64 = 2**63 - 1

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


def a_valid_tick() -> Tick:
    return Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("volume", True),
        ("volume", 10**30),
        ("volume", "1"),
        ("volume", NAN),
        ("bid", True),
        ("ask", 10**30),
        ("last", True),
        ("last", NAN),
        ("last", -1.0),
        ("last", "50000.0"),
        ("symbol", ["BTCUSDT"]),
        ("source", ["unhashable"]),
        ("ts", True),
        ("ts", 2**64),
    ],
)
def test_the_tick_fast_path_refuses_what_the_slow_path_refuses(field: str, value: Any) -> None:
    validate(Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, last=1.5))
    fields: dict[str, Any] = {"symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0}
    validate(Tick(**fields))  # the symbol is now known: the next tick takes the fast path
    with pytest.raises(InvalidEvent) as info:
        admit(Tick(**fields | {field: value}))
    assert (info.value.event_type, info.value.field) == ("Tick", field)


class Side(enum.Enum):
    BUY = "BUY"


class Unhashable:
    """A hostile value: hashing or comparing it raises."""

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (Tick, "source", datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)),
        (Tick, "symbol", decimal.Decimal("1")),
        (TradeExecution, "comment", decimal.Decimal("1.5")),
        (TradeExecution, "direction", Side.BUY),
        (TradeExecution, "event_id", uuid.UUID(int=7)),
        (AnalysisResult, "kind", uuid.UUID(int=7)),
        (SystemHealth, "component", datetime.date(2026, 1, 1)),
        (Tick, "symbol", Unhashable()),
    ],
    ids=["datetime", "decimal-symbol", "decimal", "enum", "uuid-id", "uuid", "date", "hostile"],
)
def test_a_value_that_msgspec_would_encode_as_a_str_is_still_the_wrong_type(
    cls: type[Event], field: str, value: Any
) -> None:
    validate(cls(**fields_of(cls)))  # the tick fast path is taken next
    with pytest.raises(InvalidEvent) as info:
        validate(cls(**fields_of(cls) | {field: value}))
    assert (info.value.event_type, info.value.field) == (cls.__name__, field)
    with pytest.raises(InvalidEvent):
        build(cls, **fields_of(cls) | {field: value})


def test_values_of_a_compatible_type_are_accepted() -> None:
    class Direction(enum.StrEnum):
        BUY = "BUY"

    fields = fields_of(TradeExecution) | {"direction": Direction.BUY, "volume": 1, "ticket": 5}
    assert validate(TradeExecution(**fields)).volume == 1


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


def test_an_event_just_built_is_admitted_without_validating_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    execution = build(TradeExecution, **fields_of(TradeExecution))
    checked: list[Event] = []
    slow = validate_module._validate_slow

    def counting(event: Event) -> None:
        checked.append(event)
        slow(event)

    monkeypatch.setattr(validate_module, "_validate_slow", counting)
    assert admit(execution) == execution.topic
    assert checked == []
    # An equal event that is not the one built is validated.
    other = TradeExecution(**fields_of(TradeExecution))
    assert admit(other) == other.topic
    assert checked == [other]


def test_an_event_whose_payload_can_change_is_validated_again() -> None:
    payload: dict[str, Any] = {"rsi": 55.0}
    analysis = build(AnalysisResult, kind="signal", payload=payload)
    payload["rsi"] = math.nan  # a dict is not frozen with the event
    with pytest.raises(InvalidEvent, match="payload"):
        admit(analysis)


@pytest.mark.parametrize("symbol", ["EURUSD.m", "XAUUSD.r", "BTC/USDT", "ES-202612", "BTCUSDT"])
def test_broker_symbols_with_suffixes_and_separators_are_valid(symbol: str) -> None:
    tick = validate(Tick(symbol=symbol, bid=1.0, ask=1.5))
    assert decode(encode(tick)) == tick
    execution = build(TradeExecution, **fields_of(TradeExecution) | {"symbol": symbol})
    assert execution.symbol == symbol
    check_symbol("Tick", symbol)


def test_check_symbol_refuses_a_value_that_is_not_a_str_even_unhashable() -> None:
    for bad in (["BTC"], {"a": 1}, None, 5):
        with pytest.raises(InvalidEvent) as info:
            check_symbol("Tick", bad)
        assert info.value.field == "symbol"


def test_a_missing_required_keyword_is_named() -> None:
    with pytest.raises(InvalidEvent) as info:
        build(Tick, symbol="BTCUSDT", bid=1.0)
    assert (info.value.event_type, info.value.field) == ("Tick", "ask")


def test_an_unknown_keyword_is_named() -> None:
    with pytest.raises(InvalidEvent) as info:
        build(Tick, symbol="BTCUSDT", bid=1.0, ask=2.0, colour="red")
    assert (info.value.event_type, info.value.field, info.value.value) == ("Tick", "colour", "red")
    with pytest.raises(InvalidEvent) as info:
        from_dict({"type": "Tick", "symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0, "colour": 1})
    assert info.value.field == "colour"


def test_build_refuses_a_class_that_is_not_an_event_type() -> None:
    with pytest.raises(InvalidEvent):
        build(dict, a=1)  # type: ignore[type-var]


def test_from_dict_builds_any_event_named_by_its_type_key() -> None:
    for event in sample_events():
        data = msgspec.structs.asdict(event) | {"type": type(event).__name__}
        assert from_dict(data) == event
        assert from_dict(msgspec.structs.asdict(event), type(event)) == event


@pytest.mark.parametrize(
    ("data", "cls", "field"),
    [
        ({"symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0}, None, "type"),
        ({"type": "Nope", "symbol": "BTCUSDT"}, None, "type"),
        ({"type": ["Tick"], "symbol": "BTCUSDT"}, None, "type"),
        ({"type": "Candle", "symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0}, Tick, "type"),
        ({"type": "Tick", "symbol": "BTCUSDT", "bid": 1.0}, None, "ask"),
        ({"type": "Tick", 1: 2, "symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0}, None, None),
        (["Tick", "BTCUSDT"], None, None),
        ("Tick", Tick, None),
    ],
)
def test_from_dict_refuses_unknown_types_and_fields(
    data: Any, cls: type[Event] | None, field: str | None
) -> None:
    with pytest.raises(InvalidEvent) as info:
        from_dict(data, cls)
    assert info.value.field == field


def _nested_list(depth: int) -> list[Any]:
    payload: list[Any] = [1]
    for _ in range(depth):
        payload = [payload]
    return payload


def _nested(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth):
        payload = {"a": payload}
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        _nested(100),
        {"a": _nested_list(40)},
        {"a": object()},
        {"a": {1, 2}},
        {"a": b"bytes"},
        {"a": {1: "int key"}},
        {"a": NAN},
        {"a": [1.0, -INF]},
        {"a": 2**64},
        {"a": "s" * 1_100_000},
        {str(i): i for i in range(100_001)},
    ],
    ids=[
        "deep-dicts",
        "deep-lists",
        "object",
        "set",
        "bytes",
        "int-key",
        "nan",
        "inf",
        "bigint",
        "huge-str",
        "too-many",
    ],
)
def test_deep_or_non_json_payloads_are_refused(payload: dict[str, Any]) -> None:
    for cls, field in ((AnalysisResult, "payload"), (TradeAnalysis, "indicators")):
        with pytest.raises(InvalidEvent) as info:
            build(cls, **fields_of(cls) | {field: payload})
        assert (info.value.event_type, info.value.field) == (cls.__name__, field)


def test_decode_refuses_a_deeply_nested_payload() -> None:
    depth = 100_000
    data = b"\x93\xaeAnalysisResult\xa1k\x81\xa1a" + b"\x91" * depth + b"\xc0"
    with pytest.raises(InvalidEvent):
        decode(data)


@pytest.mark.parametrize("bad", [None, 42, "text", ["Tick"]])
def test_decode_refuses_what_is_not_bytes(bad: Any) -> None:
    with pytest.raises(InvalidEvent):
        decode(bad)
    with pytest.raises(InvalidEvent):
        decode_many([bad])


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_every_truncated_encoding_is_refused(event: Event) -> None:
    data = encode(event)
    for end in range(len(data)):
        with pytest.raises(InvalidEvent):
            decode(data[:end])


def test_an_unknown_tag_is_refused_naming_the_type() -> None:
    for raw in (["Nope", "BTCUSDT", 1.0, 2.0], [7, 1], ["tick", "BTCUSDT", 1.0, 2.0]):
        with pytest.raises(InvalidEvent) as info:
            decode(msgspec.msgpack.encode(raw))
        assert info.value.field == "type"
        assert info.value.value == raw[0]


def test_invalid_utf8_in_a_string_is_refused() -> None:
    data = bytearray(encode(Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)))
    data[data.index(b"BTC")] = 0xFF
    with pytest.raises(InvalidEvent):
        decode(bytes(data))
    with pytest.raises(InvalidEvent):
        decode_many([bytes(data)])


def test_validate_refuses_an_object_that_is_not_an_event() -> None:
    for bad in ({"symbol": "BTCUSDT"}, None, "Tick"):
        with pytest.raises(InvalidEvent):
            validate(bad)  # type: ignore[type-var]


def test_validate_returns_the_event_itself_and_admit_its_topic() -> None:
    for event in sample_events():
        assert validate(event) is event
        assert admit(event) == event.topic


# ----------------------------------------------------------------- properties

finite_positive = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
finite_non_negative = st.floats(min_value=0.0, allow_infinity=False)
symbols = st.from_regex(SYMBOL_RE, fullmatch=True)
timestamps = st.integers(min_value=0, max_value=MAX_INT64)


@st.composite
def ticks(draw: st.DrawFn) -> Tick:
    return Tick(
        symbol=draw(symbols),
        bid=draw(finite_positive),
        ask=draw(finite_positive),
        last=draw(st.none() | finite_positive),
        volume=draw(finite_non_negative),
        source=draw(st.text(max_size=256)),
        ts=draw(timestamps),
    )


@st.composite
def event_ids(draw: st.DrawFn) -> str:
    """Any UUIDv7 of the canonical form: any time up to the year 2262, any random bits."""
    ms = draw(st.integers(min_value=0, max_value=MAX_INT64 // 1_000_000))
    rand_a = draw(st.integers(min_value=0, max_value=0xFFF))
    rand_b = draw(st.integers(min_value=0, max_value=2**62 - 1))
    h = f"{ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@st.composite
def executions(draw: st.DrawFn) -> TradeExecution:
    entry = draw(st.floats(min_value=1e-6, max_value=1e12))
    below = st.floats(min_value=0.0, max_value=entry, exclude_min=True, exclude_max=True)
    above = st.floats(min_value=entry, exclude_min=True, allow_infinity=False)
    direction = draw(st.sampled_from(["BUY", "SELL"]))
    loss_side, profit_side = (below, above) if direction == "BUY" else (above, below)
    return TradeExecution(
        ticket=draw(st.integers(min_value=1, max_value=MAX_INT64)),
        symbol=draw(symbols),
        direction=direction,  # type: ignore[arg-type]
        entry_price=entry,
        volume=draw(finite_positive),
        stop_loss=draw(st.none() | loss_side),
        take_profit=draw(st.none() | profit_side),
        recommendation_id=draw(st.none() | st.text(min_size=1, max_size=128)),
        comment=draw(st.text(max_size=300)),
        ts=draw(timestamps),
        event_id=draw(event_ids()),
    )


@PROPERTY
@given(ticks())
def test_every_valid_tick_validates_and_survives_encode_and_decode(tick: Tick) -> None:
    assert validate(tick) is tick
    assert validate(tick) is tick  # again, through the fast path
    assert decode(encode(tick)) == tick


@PROPERTY
@given(executions())
def test_every_valid_execution_validates_and_survives_encode_and_decode(
    execution: TradeExecution,
) -> None:
    assert validate(execution) is execution
    assert decode(encode(execution)) == execution


bad_prices = st.sampled_from([NAN, INF, -INF, 0.0, -0.0]) | st.floats(max_value=0.0)
bad_volumes = st.sampled_from([NAN, INF, -INF]) | st.floats(max_value=0.0, exclude_max=True)
FLOAT_FIELDS: dict[type[Event], dict[str, st.SearchStrategy[float]]] = {
    Tick: {"bid": bad_prices, "ask": bad_prices, "last": bad_prices, "volume": bad_volumes},
    TradeExecution: {
        "entry_price": bad_prices,
        "volume": bad_prices,
        "stop_loss": bad_prices,
        "take_profit": bad_prices,
    },
    TradeRecommendation: {
        "entry_price": bad_prices,
        "stop_loss": bad_prices,
        "take_profit": bad_prices,
        "confidence": st.sampled_from([NAN, INF, -INF])
        | st.floats(max_value=0.0, exclude_max=True)
        | st.floats(min_value=100.0, exclude_min=True),
    },
    Candle: {"open": bad_prices, "high": bad_prices, "low": bad_prices, "close": bad_prices},
}


@PROPERTY
@given(st.data())
def test_an_invalid_float_is_refused_with_the_field_named(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(sorted(FLOAT_FIELDS, key=lambda c: c.__name__)))
    field = data.draw(st.sampled_from(sorted(FLOAT_FIELDS[cls])))
    value = data.draw(FLOAT_FIELDS[cls][field])
    validate(cls(**fields_of(cls)))
    fields = fields_of(cls) | {field: value}
    with pytest.raises(InvalidEvent) as info:
        validate(cls(**fields))
    assert (info.value.event_type, info.value.field) == (cls.__name__, field)
    with pytest.raises(InvalidEvent) as info:
        decode(msgspec.msgpack.encode([cls.__name__, *fields.values()]))
    assert (info.value.event_type, info.value.field) == (cls.__name__, field)


def _check_decoded(data: bytes) -> None:
    try:
        event = decode(data)
    except InvalidEvent:
        return
    assert type(event) in EVENT_TYPES
    assert validate(event) is event


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoding_random_bytes_returns_a_valid_event_or_raises_invalid_event(
    data: bytes,
) -> None:
    _check_decoded(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_decoding_a_corrupted_encoding_returns_a_valid_event_or_raises_invalid_event(
    data: st.DataObject,
) -> None:
    original = bytearray(encode(data.draw(st.sampled_from(sample_events()))))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
        original[at] = data.draw(st.integers(min_value=0, max_value=255))
    _check_decoded(bytes(original))
    try:
        events = decode_many([bytes(original), encode(a_valid_tick())])
    except InvalidEvent:
        return
    assert len(events) == 2


def test_every_event_type_is_covered_by_the_invalid_table() -> None:
    assert {cls for cls, _, _ in INVALID} == set(EVENT_TYPES)


@pytest.mark.parametrize("last", [None, 50000.25])
def test_a_tick_of_a_known_symbol_takes_the_fast_path(
    monkeypatch: pytest.MonkeyPatch, last: float | None
) -> None:
    validate(Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, source="feed"))

    def slow(event: Event) -> None:
        raise AssertionError(f"slow path taken for {event!r}")

    monkeypatch.setattr(validate_module, "_validate_slow", slow)
    tick = Tick(symbol="BTCUSDT", bid=50000.0, ask=50000.5, last=last, volume=2.0, source="feed")
    assert admit(tick) == "market.tick.BTCUSDT"


def test_an_event_built_then_altered_is_validated_at_its_next_admission() -> None:
    """The trust in a just-built event is spent by one admission, and an explicit
    validate() never uses it: an event altered behind msgspec's back is refused."""
    alert = build(TradeAlert, **fields_of(TradeAlert))
    msgspec.structs.force_setattr(alert, "ts", -5)
    with pytest.raises(InvalidEvent, match="ts"):
        validate(alert)
    again = build(TradeAlert, **fields_of(TradeAlert))
    assert admit(again) == again.topic  # the one admission it is trusted for
    msgspec.structs.force_setattr(again, "ts", -5)
    with pytest.raises(InvalidEvent, match="ts"):
        admit(again)
