"""Generated events (properties): every valid tick and execution validates and survives
encode and decode; every invalid float is refused with its field named."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    Candle,
    Event,
    InvalidEvent,
    Tick,
    TradeExecution,
    TradeRecommendation,
    decode,
    encode,
    validate,
)
from schemas._symbols import SYMBOL_RE

from ._samples import fields_of
from ._validation_helpers import INF, NAN

PROPERTY = settings(max_examples=100, deadline=None)
MAX_INT64 = 2**63 - 1


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
