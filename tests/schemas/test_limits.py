"""Event ids chosen by callers, ids derived from them, the size limit per event, and
enum errors that list what is allowed."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal, get_args, get_origin, get_type_hints

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from schemas import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    AnalysisResult,
    Candle,
    InvalidEvent,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeRecommendation,
    build,
    check_event_id,
    decode,
    decode_many,
    derived_event_id,
    encode,
    event_id_ts,
    is_event_id,
    new_event_id,
)

from ._samples import fields_of

# ------------------------------------------------------------------- event ids

_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_the_ids_new_event_id_makes_are_valid_event_ids() -> None:
    for _ in range(1_000):
        event_id = new_event_id()
        assert is_event_id(event_id)
        assert check_event_id(event_id) == event_id


_NOT_EVENT_IDS: list[Any] = [
    "",
    "retry-1",
    str(uuid.uuid4()),  # version 4
    new_event_id().upper(),  # not canonical: the same id would be two strings
    "{" + new_event_id() + "}",
    new_event_id().replace("-", ""),
    new_event_id() + "\n",
    " " + new_event_id(),
    new_event_id()[:-1] + "g",
    new_event_id().replace("0", "\uff10"),  # a full-width digit
    "01900000-0000-7000-c000-000000000000",  # variant 110
    "ffffffff-ffff-7fff-bfff-ffffffffffff",  # after the year 2262: no ns timestamp
    uuid.UUID(new_event_id()),  # a UUID object, not its text
    12345,
    None,
    b"0190f5e2-7c1a-7d3e-8a4b-1c2d3e4f5a6b",
]


@pytest.mark.parametrize("value", _NOT_EVENT_IDS, ids=repr)
def test_check_event_id_refuses_what_is_not_a_canonical_uuid7(value: Any) -> None:
    assert not is_event_id(value)
    with pytest.raises(InvalidEvent, match=r"invalid TradeAlert\.event_id: .*") as info:
        check_event_id(value, "TradeAlert")
    assert info.value.field == "event_id"
    assert "UUIDv7" in str(info.value) or "2262" in str(info.value)


def test_a_derived_id_is_a_valid_event_id_of_the_same_millisecond_sorting_after() -> None:
    for _ in range(1_000):
        first = new_event_id()
        derived = derived_event_id(first)
        assert is_event_id(derived)
        assert event_id_ts(derived) == event_id_ts(first)
        assert derived[:13] == first[:13]  # the same millisecond prefix
        assert derived > first
        assert derived == derived_event_id(first)  # deterministic
        assert derived != derived_event_id(first, 2)


def test_derived_ids_keep_the_order_of_the_ids_they_come_from() -> None:
    made = [new_event_id() for _ in range(20_000)]  # many share a millisecond
    assert made == sorted(made)
    derived = [derived_event_id(event_id) for event_id in made]
    assert derived == sorted(derived)
    assert len(set(derived)) == len(made)


def test_derived_ids_never_collide_with_made_ones() -> None:
    made = {new_event_id() for _ in range(20_000)}
    derived = {derived_event_id(event_id, n) for event_id in made for n in (1, 2, 63)}
    assert len(derived) == 3 * len(made)
    assert not made & derived
    # What makes it certain: made ids never have an "f" after the version digit.
    assert all(event_id[15] != "f" for event_id in made)
    assert all(event_id[15] == "f" for event_id in derived)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(_UUID7, fullmatch=True), st.integers(1, 63))
def test_any_valid_event_id_derives_a_valid_one(event_id: str, index: int) -> None:
    if not is_event_id(event_id):  # after the year 2262
        with pytest.raises(InvalidEvent):
            derived_event_id(event_id, index)
        return
    derived = derived_event_id(event_id, index)
    assert is_event_id(derived)
    assert event_id_ts(derived) == event_id_ts(event_id)


def test_derived_event_id_refuses_a_malformed_id_or_index() -> None:
    with pytest.raises(InvalidEvent, match="event_id"):
        derived_event_id("not-an-id")
    for index in (0, 64, -1, 1.0, True):
        with pytest.raises(ValueError, match="index must be an int from 1 to 63"):
            derived_event_id(new_event_id(), index)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- size


def _strings(count: int, size: int, char: str = "x") -> dict[str, Any]:
    """A payload of ``count`` strings of ``size`` characters (one shared string)."""
    text = char * size
    return {str(n): text for n in range(count)}


def test_the_attack_of_a_gigabyte_of_small_strings_is_refused_before_encoding() -> None:
    # 1,050 strings each under the per-string cap: a gigabyte encoded. The strings
    # share one object, so the test itself holds a megabyte only.
    payload = _strings(1_050, 999_999)
    with pytest.raises(InvalidEvent) as info:
        build(AnalysisResult, kind="bulk", payload=payload)
    message = str(info.value)
    assert message.startswith("invalid AnalysisResult: ")
    assert "at least 1,050,0" in message
    assert f"limit of {MAX_EVENT_BYTES:,} bytes per event" in message
    assert "largest field: payload" in message
    assert len(message) < 500  # the value is shown shortened, not a gigabyte of it


@pytest.mark.parametrize(
    ("cls", "field"),
    [(AnalysisResult, "payload"), (TradeAnalysis, "indicators"), (SystemHealth, "details")],
)
def test_an_event_over_the_limit_is_refused_with_its_exact_encoded_size(
    cls: type[schemas.Event], field: str
) -> None:
    # Under the limit in characters, over it encoded: four bytes per character.
    payload = {"text": "\U0001f680" * (MAX_EVENT_BYTES // 4 + 1)}
    event = cls(**fields_of(cls) | {field: payload})
    size = len(msgspec.msgpack.encode(event))
    assert size > MAX_EVENT_BYTES
    with pytest.raises(InvalidEvent) as info:
        schemas.validate(event)
    assert info.value.event_type == cls.__name__
    assert f"its encoded size, {size:,} bytes, is over the limit of 1,048,576 bytes" in str(
        info.value
    )
    assert f"largest field: {field}" in str(info.value)


def test_an_event_just_under_the_limit_is_valid() -> None:
    payload = {"a": "x" * 600_000, "b": "y" * (MAX_EVENT_BYTES - 600_000 - 200)}
    event = build(AnalysisResult, kind="bulk", payload=payload)
    assert len(encode(event)) <= MAX_EVENT_BYTES
    assert decode(encode(event)) == event


def test_decode_refuses_bytes_over_the_limit_before_decoding() -> None:
    big = {"text": "x" * MAX_EVENT_BYTES}
    data = msgspec.msgpack.encode(["AnalysisResult", "bulk", big])
    with pytest.raises(InvalidEvent, match=r"over the limit of 1,048,576 bytes"):
        decode(data)
    with pytest.raises(InvalidEvent, match=r"over the limit of 1,048,576 bytes"):
        decode_many([encode(build(AnalysisResult, kind="small")), data])


def test_every_event_without_a_json_field_is_bounded_under_the_limit_by_its_fields() -> None:
    # The longest texts at their caps, in the widest characters UTF-8 has.
    wide = "\U0001f680"
    execution = TradeExecution(
        ticket=1, symbol="X" * 64, direction="BUY", entry_price=1.0, volume=1.0,
        recommendation_id=wide * 128, comment=wide * 65_536,
    )  # fmt: skip
    schemas.validate(execution)
    assert len(encode(execution)) < MAX_EVENT_BYTES // 3


# ----------------------------------------------------------------------- enums

_ENUMS: list[tuple[type[schemas.Event], str, tuple[str, ...]]] = [
    (TradeExecution, "direction", get_args(schemas.Direction)),
    (TradeRecommendation, "direction", get_args(schemas.Direction)),
    (Candle, "timeframe", get_args(schemas.Timeframe)),
    (PositionUpdate, "status", get_args(schemas.PositionStatus)),
    (RecommendationUpdate, "status", get_args(schemas.RecommendationStatus)),
    (RecommendationUpdate, "outcome", get_args(schemas.Outcome)),
    (TradeAlert, "alert_type", get_args(schemas.AlertType)),
    (TradeAlert, "severity", get_args(schemas.Severity)),
    (SystemHealth, "status", get_args(schemas.HealthStatus)),
    (TickImport, "status", get_args(schemas.ImportStatus)),
    (schemas.ExitRule, "atr_timeframe", get_args(schemas.Timeframe)),
    (schemas.MonitorMark, "severity", get_args(schemas.Severity)),
]


def test_the_enum_table_covers_every_literal_field() -> None:
    literal_fields = {
        (cls, name)
        for cls in EVENT_TYPES
        for name, hint in get_type_hints(cls).items()
        if any(get_origin(arg) is Literal for arg in (hint, *get_args(hint)))
    }
    assert literal_fields == {(cls, field) for cls, field, _ in _ENUMS}


@pytest.mark.parametrize(("cls", "field", "allowed"), _ENUMS)
@pytest.mark.parametrize("bad", ["buy", "", 1, "M2 "])
def test_an_enum_error_lists_the_allowed_values(
    cls: type[schemas.Event], field: str, allowed: tuple[str, ...], bad: Any
) -> None:
    fields = fields_of(cls) | {field: bad}
    if cls is RecommendationUpdate and field == "outcome":
        fields["status"] = "closed"
    listed = ", ".join(repr(value) for value in allowed)
    shown = re.escape(f"(got {bad!r})")
    pattern = rf"invalid {cls.__name__}\.{field}: must be one of {re.escape(listed)}.*{shown}"
    with pytest.raises(InvalidEvent, match=pattern) as info:
        build(cls, **fields)
    assert (info.value.field, info.value.value) == (field, bad)
    with pytest.raises(InvalidEvent, match=pattern):
        decode(msgspec.msgpack.encode([cls.__name__, *fields.values()]))
