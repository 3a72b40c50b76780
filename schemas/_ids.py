"""Time-ordered unique identifiers (UUIDv7 text form) for trade-lifecycle events."""

from __future__ import annotations

import os
import random
import re
import threading
import time
from typing import Final

from ._exceptions import InvalidEvent

__all__ = [
    "EVENT_ID_FORMAT",
    "check_event_id",
    "derived_event_id",
    "event_id_ts",
    "is_event_id",
    "new_event_id",
    "observe_event_id",
]

#: What a caller-chosen ``event_id`` must look like.
EVENT_ID_FORMAT: Final = (
    "a UUIDv7 in canonical lowercase text form, e.g. '0190f5e2-7c1a-7d3e-8a4b-1c2d3e4f5a6b' "
    "(8-4-4-4-12 hex digits, version 7, variant 10xx), as schemas.new_event_id() makes"
)
_EVENT_ID_RE: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
# The latest millisecond whose nanosecond timestamp still fits an int64 (year 2262).
_MAX_MS: Final = (2**63 - 1) // 1_000_000

# RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then 74 bits that we use as a
# counter seeded at random each millisecond ("method 1" of the RFC), so that ids are
# unique and strictly increasing within a process even when the clock stalls or
# steps back.
_COUNTER_BITS = 74
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0


# The counters' random seeds: a generator of the module's own (seeded from the
# system's randomness when made, and again in a forked child), so that a new
# millisecond costs no system call, and a program seeding the ``random`` module
# changes nothing here.
_random = random.Random()


def _seed() -> int:
    """A counter's first value: random, below 2**70 (headroom against overflow)."""
    return _random.getrandbits(70)


def _reset_after_fork() -> None:
    # The child keeps the millisecond (and so the floor observe_event_id raised) but
    # draws a counter of its own: it must not make the ids its parent makes next.
    global _lock, _counter
    _lock = threading.Lock()
    _random.seed()
    _counter = _seed()


os.register_at_fork(after_in_child=_reset_after_fork)


def new_event_id() -> str:
    """Return a new UUIDv7 string, greater than every id this process made before."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = _seed()
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = _seed()
        value = (
            (_last_ms << 80)
            | (0x7 << 76)
            | ((_counter >> 62) << 64)
            | (0b10 << 62)
            | (_counter & ((1 << 62) - 1))
        )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def observe_event_id(event_id: str) -> None:
    """Make every id :func:`new_event_id` returns from now on greater than ``event_id``
    (an id stored by an earlier run of the program, say, whose clock was ahead).

    Ids stay strictly increasing: when ``event_id`` is not below the ids made so far,
    the next ones are made in the millisecond after its own (or later, as the clock
    goes), so they are never equal to an id derived from it either. A ``event_id``
    below the ids made so far changes nothing. The floor holds in this process and
    in the processes it forks afterwards.

    :raises InvalidEvent: if ``event_id`` is not of the format :data:`EVENT_ID_FORMAT`.
    :raises ValueError: if ``event_id`` is of the last millisecond ids can hold (the
        year 2262): no id can be made after it.
    """
    global _last_ms, _counter
    ms = event_id_ts(check_event_id(event_id))
    if ms >= _MAX_MS:
        raise ValueError(
            f"no event id can be made after {event_id!r}: its time is the last one an id "
            "can hold (the year 2262); is the clock of the program that made it wrong?"
        )
    with _lock:
        if ms >= _last_ms:
            _last_ms = ms + 1
            _counter = _seed()


def event_id_ts(event_id: str) -> int:
    """Return the Unix time in milliseconds embedded in a UUIDv7 ``event_id``."""
    return int(event_id.replace("-", "")[:12], 16)


def is_event_id(value: object) -> bool:
    """Whether ``value`` is an ``event_id`` of the format :data:`EVENT_ID_FORMAT`
    whose time fits a nanosecond timestamp."""
    return (
        type(value) is str
        and _EVENT_ID_RE.fullmatch(value) is not None
        and event_id_ts(value) <= _MAX_MS
    )


def check_event_id(value: object, event_type: str = "event", field: str = "event_id") -> str:
    """Return ``value`` if it is a valid caller-chosen ``event_id``.

    :raises InvalidEvent: naming ``event_type``, ``field``, the value and the format.
    """
    if is_event_id(value):
        return value  # type: ignore[return-value]  # is_event_id checked it is a str
    if type(value) is str and _EVENT_ID_RE.fullmatch(value) is not None:
        reason = "its time is after the year 2262 (nanosecond timestamps end there)"
    else:
        reason = f"expected {EVENT_ID_FORMAT}"
    raise InvalidEvent(event_type, field, value, reason)


# Ids made by new_event_id() never have an "f" after the version digit: that nibble
# is the top of the 74-bit counter, seeded below 2**70 each millisecond, and reaching
# 15 * 2**70 would take more ids in one millisecond than can ever be made. Derived
# ids set it, so they cannot collide with made ones and sort after the made ids of
# their millisecond. Below it: 6 bits of the derived event's index, then the low 64
# bits of the first id's counter, so that derived ids keep the order of the ids
# they come from (those of one process; across processes, ids of one millisecond
# have no meaningful order anyway).
_DERIVED: Final = 0xF << 70
_MAX_INDEX: Final = 63
_LOW_64: Final = (1 << 64) - 1
_LOW_62: Final = (1 << 62) - 1


def derived_event_id(event_id: str, index: int = 1) -> str:
    """Return the ``event_id`` of the ``index``-th event (1 to 63) that the event
    ``event_id`` brings along in one call (e.g. the recommendation update an
    execution makes).

    Deterministic (a retry that reuses ``event_id`` gets the same derived id), a valid
    UUIDv7 of the same millisecond as ``event_id`` that sorts after every id
    :func:`new_event_id` makes in that millisecond, never equal to one of them, and
    in the order of the ids it is derived from.

    :raises InvalidEvent: if ``event_id`` is not of the format :data:`EVENT_ID_FORMAT`.
    :raises ValueError: if ``index`` is not between 1 and 63.
    """
    check_event_id(event_id)
    if type(index) is not int or not 1 <= index <= _MAX_INDEX:
        raise ValueError(f"index must be an int from 1 to {_MAX_INDEX}, got {index!r}")
    bits = int(event_id.replace("-", ""), 16)
    counter = ((bits >> 64) & 0xFFF) << 62 | (bits & _LOW_62)
    derived = _DERIVED | (index << 64) | (counter & _LOW_64)
    value = (
        (event_id_ts(event_id) << 80)
        | (0x7 << 76)
        | ((derived >> 62) << 64)
        | (0b10 << 62)
        | (derived & _LOW_62)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
