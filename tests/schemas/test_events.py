"""The event Structs: encoding round trips, defaults, ids, and their struct options."""

from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import msgspec
import pytest

import schemas
from schemas import (
    EVENT_TYPES,
    LIFECYCLE_EVENTS,
    Candle,
    Event,
    Tick,
    TickImport,
    TradeRecommendation,
    decode,
    decode_many,
    encode,
    event_id_ts,
    new_event_id,
    pack_array,
)
from schemas import _ids as ids_module

from ._samples import sample, sample_events

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_the_samples_cover_every_event_type() -> None:
    assert sorted(type(e).__name__ for e in sample_events()) == sorted(
        cls.__name__ for cls in EVENT_TYPES
    )
    assert len(EVENT_TYPES) == 16


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_every_event_type_survives_encode_and_decode_unchanged(event: Event) -> None:
    decoded = decode(encode(event))
    assert type(decoded) is type(event)
    assert decoded == event


def test_decode_many_decodes_every_event_type_in_one_call() -> None:
    events = sample_events() * 3
    assert decode_many(encode(e) for e in events) == events
    assert decode_many([]) == []


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65_535, 65_536])
def test_pack_array_makes_one_msgpack_array_of_the_items(count: int) -> None:
    items = [b"\x01"] * count  # each item is the msgpack integer 1
    assert msgspec.msgpack.decode(pack_array(items)) == [1] * count


def test_ts_defaults_to_now_in_integer_nanoseconds() -> None:
    before = time.time_ns()
    events: list[Tick | schemas.SystemHealth] = [
        Tick(symbol="BTCUSDT", bid=1.0, ask=2.0),
        schemas.SystemHealth(component="bot", status="ok"),
    ]
    after = time.time_ns()
    for event in events:
        assert type(event.ts) is int
        assert before <= event.ts <= after


@pytest.mark.parametrize("cls", LIFECYCLE_EVENTS, ids=lambda c: c.__name__)
def test_lifecycle_events_get_a_uuid7_event_id_of_now(cls: type[Event]) -> None:
    event = sample(cls)
    event_id = event.event_id  # type: ignore[attr-defined]
    assert UUID7.fullmatch(event_id)
    assert abs(event_id_ts(event_id) - time.time_ns() // 1_000_000) < 60_000


def test_market_data_carries_no_event_id() -> None:
    assert set(LIFECYCLE_EVENTS) == set(EVENT_TYPES) - {Tick, Candle, TickImport}
    assert "event_id" not in Tick.__struct_fields__
    assert "event_id" not in Candle.__struct_fields__
    assert "event_id" not in TickImport.__struct_fields__


def test_recommendation_id_is_generated_when_absent_and_kept_when_given() -> None:
    kwargs = {
        "symbol": "BTCUSDT",
        "direction": "BUY",
        "entry_price": 50000.0,
        "stop_loss": 49500.0,
        "take_profit": 51000.0,
        "confidence": 85.0,
    }
    first = TradeRecommendation(**kwargs)  # type: ignore[arg-type]
    second = TradeRecommendation(**kwargs)  # type: ignore[arg-type]
    assert UUID7.fullmatch(first.recommendation_id)
    assert first.recommendation_id != second.recommendation_id
    assert first.recommendation_id != first.event_id
    given = TradeRecommendation(recommendation_id="rec-42", **kwargs)  # type: ignore[arg-type]
    assert given.recommendation_id == "rec-42"


def test_event_ids_are_unique_and_strictly_increasing() -> None:
    ids = [new_event_id() for _ in range(5_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))


def test_event_ids_keep_increasing_when_the_clock_stalls_or_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [2_000_000_000_000_000_000]
    monkeypatch.setattr(ids_module, "time", SimpleNamespace(time_ns=lambda: now[0]))
    ids = [new_event_id()]
    for step in (0, 0, -1_000_000_000, -5_000_000_000, 1_000_000, 0):
        now[0] += step
        ids.append(new_event_id())
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert all(UUID7.fullmatch(i) for i in ids)


def test_event_ids_from_concurrent_threads_are_unique_and_increasing_per_thread() -> None:
    per_thread: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def make(out: list[str]) -> None:
        start.wait()
        out.extend(new_event_id() for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for out in per_thread for i in out]
    assert len(set(every)) == len(every) == 8_000
    for out in per_thread:
        assert all(a < b for a, b in itertools.pairwise(out))


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_events_are_frozen(event: Event) -> None:
    name = type(event).__struct_fields__[0]
    with pytest.raises(AttributeError):
        setattr(event, name, getattr(event, name))


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_events_take_keyword_arguments_only(cls: type[Event]) -> None:
    with pytest.raises(TypeError):
        cls("BTCUSDT")


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_events_are_tagged_with_their_class_name(event: Event) -> None:
    cls = type(event)
    assert cls.__struct_config__.frozen
    assert cls.__struct_config__.tag == cls.__name__
    assert msgspec.msgpack.decode(encode(event))[0] == cls.__name__
    assert isinstance(event, Event)


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456Z"),
        (8_766_739_561_597_655_341, "2247-10-22T21:26:01.597655Z"),
    ],
)
def test_timestamps_display_as_utc_to_the_exact_microsecond(ts: int, text: str) -> None:
    assert schemas.format_ts(ts) == text
    moment = schemas.ts_to_datetime(ts)
    assert moment.utcoffset() == timedelta(0)
    assert moment.microsecond == ts // 1_000 % 1_000_000
