"""Building and checking events in code: build and from_dict name a missing or unknown
keyword and refuse what is not an event type; validate returns the event, admit its topic."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas import Event, InvalidEvent, Tick, admit, build, from_dict, validate

from ._samples import sample_events


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


def test_validate_refuses_an_object_that_is_not_an_event() -> None:
    for bad in ({"symbol": "BTCUSDT"}, None, "Tick"):
        with pytest.raises(InvalidEvent):
            validate(bad)  # type: ignore[type-var]


def test_validate_returns_the_event_itself_and_admit_its_topic() -> None:
    for event in sample_events():
        assert validate(event) is event
        assert admit(event) == event.topic
