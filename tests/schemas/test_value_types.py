"""Types and shapes of values: a value msgspec would encode as a str is still the wrong
type, compatible types are accepted, broker symbols are valid, and payloads must be
shallow JSON."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import pytest

from schemas import (
    AnalysisResult,
    Event,
    InvalidEvent,
    SystemHealth,
    Tick,
    TradeAnalysis,
    TradeExecution,
    build,
    check_symbol,
    decode,
    encode,
    validate,
)

from ._samples import fields_of
from ._validation_helpers import INF, NAN


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
