"""What validation admits can be stored as it means: event ids of one form, floats that
SQLite can bind, an outcome that agrees with its P&L; and the id floor that keeps new
ids after those stored by a run whose clock was ahead."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import msgspec
import pytest

import schemas
from schemas import (
    LIFECYCLE_EVENTS,
    Event,
    InvalidEvent,
    RecommendationUpdate,
    Tick,
    TradeExecution,
    build,
    decode,
    derived_event_id,
    encode,
    event_id_ts,
    new_event_id,
    observe_event_id,
    validate,
)

from ._samples import fields_of, sample_events

# ------------------------------------------------------------------- event ids

_BAD_IDS: list[Any] = [
    "zzzz",
    "A",
    " x ",
    "\u202e",
    new_event_id().upper(),
    str(uuid.uuid4()),
]


def _lifecycle_samples() -> list[Event]:
    return [event for event in sample_events() if type(event) in LIFECYCLE_EVENTS]


def test_every_lifecycle_event_type_is_sampled() -> None:
    assert {type(event) for event in _lifecycle_samples()} == set(LIFECYCLE_EVENTS)


@pytest.mark.parametrize("bad", _BAD_IDS, ids=repr)
def test_validation_refuses_an_event_id_of_another_form_in_every_event_type(bad: str) -> None:
    for event in _lifecycle_samples():
        name = type(event).__name__
        forged = msgspec.structs.replace(event, event_id=bad)
        with pytest.raises(InvalidEvent, match=rf"invalid {name}\.event_id: expected a UUIDv7"):
            validate(forged)
        with pytest.raises(InvalidEvent, match=rf"invalid {name}\.event_id: expected a UUIDv7"):
            build(type(event), **msgspec.structs.asdict(forged))
        # From the wire (another process): refused when decoded.
        with pytest.raises(InvalidEvent, match=rf"invalid {name}\.event_id"):
            decode(encode(forged))


def test_a_derived_id_is_a_valid_event_id_of_an_event() -> None:
    for event in _lifecycle_samples():
        derived = derived_event_id(event.event_id)  # type: ignore[attr-defined]
        assert validate(msgspec.structs.replace(event, event_id=derived))


# ------------------------------------------------------------- storable floats


def _float_fields(cls: type[Event]) -> list[str]:
    """The fields of ``cls`` that hold a float (optional or not)."""

    def is_float(kind: msgspec.inspect.Type) -> bool:
        if isinstance(kind, msgspec.inspect.Metadata):  # a described type
            return is_float(kind.type)
        if isinstance(kind, msgspec.inspect.UnionType):
            return any(is_float(t) for t in kind.types)
        return isinstance(kind, msgspec.inspect.FloatType)

    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return [field.name for field in info.fields if is_float(field.type)]


_FLOAT_FIELDS = [
    (type(event), name) for event in sample_events() for name in _float_fields(type(event))
]


def test_float_fields_are_found() -> None:
    assert (TradeExecution, "entry_price") in _FLOAT_FIELDS
    assert (RecommendationUpdate, "realized_pnl") in _FLOAT_FIELDS
    assert len(_FLOAT_FIELDS) >= 25  # prices, volumes, P&L, scores, durations


@pytest.mark.parametrize("big", [2**63, 2**64 - 1, -(2**63) - 1], ids=repr)
@pytest.mark.parametrize(
    ("cls", "field"), _FLOAT_FIELDS, ids=[f"{c.__name__}.{f}" for c, f in _FLOAT_FIELDS]
)
def test_an_int_beyond_64_bits_in_a_float_field_is_refused(
    cls: type[Event], field: str, big: int
) -> None:
    # SQLite binds a Python int as a 64-bit integer: the writer could not store it.
    [event] = [e for e in sample_events() if type(e) is cls]
    forged = msgspec.structs.replace(event, **{field: big})
    with pytest.raises(InvalidEvent) as info:
        validate(forged)
    assert (info.value.field, info.value.value) == (field, big)
    assert "must be within the signed 64-bit range (-2**63 to 2**63 - 1)" in str(info.value)


@pytest.mark.parametrize(
    ("cls", "field"), _FLOAT_FIELDS, ids=[f"{c.__name__}.{f}" for c, f in _FLOAT_FIELDS]
)
def test_build_makes_an_int_in_a_float_field_a_float(cls: type[Event], field: str) -> None:
    fields = fields_of(cls)
    built = []
    sample = fields[field]
    near = round(sample) if sample is not None else 1  # the sample's value, whole
    for whole in (2**63, 2**64 - 1, 2**80, 7, 0, near):
        try:
            event = build(cls, **fields | {field: whole})
        except InvalidEvent as exc:  # another rule of the field (a range, a side)
            refusal = str(exc)
        else:
            built.append((whole, getattr(event, field)))
            continue
        assert "64-bit" not in refusal
        assert "expected float" not in refusal
    assert built  # some whole number is valid in every float field
    assert all(type(value) is float and value == float(whole) for whole, value in built)


def test_a_tick_with_an_int_price_beyond_64_bits_is_refused() -> None:
    with pytest.raises(InvalidEvent, match=r"invalid Tick\.bid: an int in a float field"):
        validate(Tick(symbol="BTCUSDT", bid=2**63, ask=2.0))
    # Within 64 bits an int binds (SQLite stores it as a REAL in a REAL column).
    assert validate(Tick(symbol="BTCUSDT", bid=2**62, ask=2**62 + 2**11))


# -------------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("outcome", "pnl", "agrees"),
    [
        ("win", -100.0, "loss"),
        ("win", 0.0, "breakeven"),
        ("loss", 5.0, "win"),
        ("loss", -0.0, "breakeven"),
        ("breakeven", 1e-9, "win"),
        ("breakeven", -3, "loss"),
    ],
)
def test_an_outcome_that_contradicts_the_realized_pnl_is_refused(
    outcome: str, pnl: float, agrees: str
) -> None:
    fields: dict[str, Any] = {
        "recommendation_id": "rec-1",
        "status": "closed",
        "outcome": outcome,
        "realized_pnl": pnl,
    }
    expected = (
        rf"invalid RecommendationUpdate\.outcome: contradicts realized_pnl {float(pnl)!r}, "
        rf"whose outcome is '{agrees}' \(win: > 0, loss: < 0, breakeven: 0\)"
    )
    with pytest.raises(InvalidEvent, match=expected):
        build(RecommendationUpdate, **fields)
    forged = RecommendationUpdate(**fields)
    with pytest.raises(InvalidEvent, match=expected):
        decode(encode(forged))


def test_an_outcome_that_agrees_or_has_no_pnl_is_valid() -> None:
    for outcome, pnl in [("win", 0.5), ("loss", -2.0), ("breakeven", 0.0), ("win", None)]:
        build(
            RecommendationUpdate,
            recommendation_id="rec-1",
            status="closed",
            outcome=outcome,
            realized_pnl=pnl,
        )
    build(RecommendationUpdate, recommendation_id="rec-1", status="closed", realized_pnl=-1.0)


# -------------------------------------------------------------------- id floor

_HOUR_NS = 3_600 * 10**9


def _id(ms: int, rand_a: int = 0, rand_b: int = 0) -> str:
    h = f"{ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stored_elsewhere() -> str:
    """An id of this millisecond that this process did not make, above those it makes
    (as another run's id: its counter is of another sequence)."""
    return _id(event_id_ts(new_event_id()), 0xEFF, 2**62 - 1)


def _clock_behind(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - ns)


def test_ids_made_after_an_observed_id_sort_after_it_when_the_clock_is_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = _stored_elsewhere()
    _clock_behind(monkeypatch, _HOUR_NS)  # this run's clock is an hour behind
    assert new_event_id() < stored  # without the floor: before the stored id
    observe_event_id(stored)
    made = [new_event_id() for _ in range(1_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert made[0] > stored
    assert all(schemas.is_event_id(m) and m[15] != "f" for m in made)  # never a derived id


def test_ids_made_after_an_observed_derived_id_sort_after_it_and_never_equal_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _stored_elsewhere()
    derived = derived_event_id(first, 63)  # the greatest id of its millisecond
    _clock_behind(monkeypatch, _HOUR_NS)
    observe_event_id(derived)
    made = [new_event_id() for _ in range(100)]
    assert made[0] > derived
    assert all(m[15] != "f" for m in made)


def test_observing_an_older_id_changes_nothing() -> None:
    before = new_event_id()
    observe_event_id(derived_event_id(_id(1)))
    after = new_event_id()
    assert after > before
    assert event_id_ts(after) - event_id_ts(before) < 60_000  # no jump into the future


def test_observe_event_id_refuses_a_malformed_id_or_the_last_millisecond() -> None:
    with pytest.raises(InvalidEvent, match="event_id"):
        observe_event_id("zzzz")
    last = _id((2**63 - 1) // 1_000_000)
    assert schemas.is_event_id(last)
    with pytest.raises(ValueError, match="no event id can be made after"):
        observe_event_id(last)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_keeps_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = _stored_elsewhere()
    _clock_behind(monkeypatch, _HOUR_NS)
    observe_event_id(stored)
    parent = new_event_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id, and exit without running anything else
        try:
            os.write(write, new_event_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert schemas.is_event_id(child)
    assert child > stored
    assert child != parent
    assert new_event_id() > parent
