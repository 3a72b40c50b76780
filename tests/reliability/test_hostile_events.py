"""Hostile events: bytes off the wire decode to a valid event or raise InvalidEvent,
nothing else, and what a bus is given that is no valid event is refused."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import msgspec
import pytest
from hypothesis import given, settings

import schemas
from eventbus import EventBusError
from schemas import InvalidEvent, Tick, TradeExecution
from tradebus import open_node

from ._helpers import NASTY_TEXT as _NASTY_TEXT
from ._helpers import SOAK
from ._helpers import SQL_INJECTION as _SQL
from ._helpers import read_rows as _rows

_EXAMPLES = 2_000 if SOAK else 200


_TAGS = [cls.__name__ for cls in schemas.EVENT_TYPES]


_INT64 = 2**63 - 1
_UINT64 = 2**64 - 1


# Values msgpack can carry: what a hostile peer could send.
_wire_int = st.integers(min_value=-(2**63), max_value=_UINT64)
_wire_leaf = st.one_of(
    st.none(),
    st.booleans(),
    _wire_int,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(_NASTY_TEXT),
    st.binary(max_size=40),
    st.integers(min_value=0, max_value=3).map(lambda n: "x" * (70_000 * n)),
)
_wire_value = st.recursive(
    _wire_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), _wire_int), children, max_size=4),
    ),
    max_leaves=20,
)


def _check_decoded(data: bytes) -> None:
    """``decode`` returns a valid event or raises InvalidEvent, nothing else."""
    try:
        event = schemas.decode(data)
    except InvalidEvent:
        return
    assert type(event) in schemas.EVENT_TYPES
    schemas.validate(event)  # what decode accepts, validation accepts too
    assert schemas.decode(schemas.encode(event)) == event


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.binary(max_size=300))
def test_decode_random_bytes(data: bytes) -> None:
    _check_decoded(data)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(
    st.one_of(st.sampled_from(_TAGS), st.text(max_size=20), _wire_leaf),
    st.lists(_wire_value, max_size=14),
)
def test_decode_malformed_events(tag: Any, fields: list[Any]) -> None:
    _check_decoded(msgspec.msgpack.encode([tag, *fields]))


_events = st.one_of(
    st.builds(
        Tick,
        symbol=st.sampled_from(["BTCUSDT", "EURUSD.m", "BRK.B"]),
        bid=st.floats(0.01, 1e6),
        ask=st.floats(0.01, 1e6),
        volume=st.floats(0, 1e6),
        source=st.sampled_from(["", "feed", _SQL]),
    ),
    st.builds(
        TradeExecution,
        ticket=st.integers(1, _INT64),
        symbol=st.just("BTCUSDT"),
        direction=st.just("BUY"),
        entry_price=st.just(100.0),
        volume=st.floats(0.001, 100),
        comment=st.sampled_from(_NASTY_TEXT),
    ),
)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(_events, st.data())
def test_decode_truncated_or_padded_events(event: Any, data: st.DataObject) -> None:
    encoded = schemas.encode(event)
    assert schemas.decode(encoded) == event
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
    with pytest.raises(InvalidEvent):
        schemas.decode(encoded[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=8), label="extra")
    with pytest.raises(InvalidEvent):
        schemas.decode(encoded + extra)


@pytest.mark.parametrize("depth", [33, 1_000, 200_000])
@pytest.mark.parametrize("opener", [b"\x81\xa1x", b"\x91"])
def test_decode_deeply_nested_payloads(depth: int, opener: bytes) -> None:
    head = b"\x93" + schemas.encode("AnalysisResult") + schemas.encode("kind")
    with pytest.raises(InvalidEvent, match=r"payload|malformed"):
        schemas.decode(head + b"\x81\xa1x" + opener * depth + b"\xc0")


def test_decode_rejects_non_bytes() -> None:
    for value in (None, "text", 12, ["Tick"], memoryview(b"")):
        with pytest.raises(InvalidEvent):
            schemas.decode(value)  # type: ignore[arg-type]


async def test_bus_refuses_what_is_not_a_valid_event(tmp_path: Path) -> None:
    class Foreign(schemas.Event, frozen=True, tag=True, kw_only=True, array_like=True):
        symbol: str

        @property
        def topic(self) -> str:
            return "market.tick.BTCUSDT"

    bad: list[Any] = [
        Tick(symbol="BTCUSDT", bid=math.nan, ask=1.0),
        Tick(symbol="BTCUSDT", bid="50000", ask=1.0),  # type: ignore[arg-type]
        Tick(symbol=_SQL, bid=1.0, ask=2.0),
        Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, ts=-1),
        Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, source={"a": 1}),  # type: ignore[arg-type]
        Tick(symbol="", bid=1.0, ask=2.0),
        TradeExecution(ticket=0, symbol="X", direction="BUY", entry_price=1.0, volume=1.0),
        Foreign(symbol="BTCUSDT"),
    ]
    async with open_node(tmp_path) as node:
        for event in bad:
            with pytest.raises(InvalidEvent):
                node.bus.publish_nowait(event)
            with pytest.raises(InvalidEvent):
                await node.bus.publish(event)
        for junk in (object(), {"type": "Tick"}, b"\x92\xa4Tick", None):
            with pytest.raises((InvalidEvent, EventBusError)):
                node.bus.publish_nowait(junk, topic="market.tick.BTCUSDT")
        assert node.bus.published == 0
    assert _rows(tmp_path / "unified_tick_pipeline.db", "unified_ticks") == []
