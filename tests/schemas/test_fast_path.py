"""Admission without the full check: the tick fast path for a known symbol refuses what
the slow path refuses, and a just-built event is trusted for one admission only."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from schemas import (
    AnalysisResult,
    Event,
    InvalidEvent,
    Tick,
    TradeAlert,
    TradeExecution,
    admit,
    build,
    validate,
)
from schemas import _validate as validate_module

from ._samples import fields_of
from ._validation_helpers import NAN


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
