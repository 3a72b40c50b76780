"""Decoding untrusted bytes: what is not bytes, truncated, deeply nested, of an unknown
tag or bad UTF-8 is refused; random or corrupted bytes decode to a valid event or raise
InvalidEvent."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import EVENT_TYPES, Event, InvalidEvent, Tick, decode, decode_many, encode, validate

from ._samples import sample_events
from ._validation_helpers import a_valid_tick


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
