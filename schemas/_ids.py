"""Time-ordered unique identifiers (UUIDv7 text form) for trade-lifecycle events."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["event_id_ts", "new_event_id"]

# RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then 74 bits that we use as a
# counter seeded at random each millisecond ("method 1" of the RFC), so that ids are
# unique and strictly increasing within a process even when the clock stalls or
# steps back.
_COUNTER_BITS = 74
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _reset_after_fork() -> None:
    global _lock, _last_ms, _counter
    _lock = threading.Lock()
    _last_ms = 0
    _counter = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def new_event_id() -> str:
    """Return a new UUIDv7 string, greater than every id this process made before."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Leave headroom above the random seed so the counter rarely overflows.
            _counter = int.from_bytes(os.urandom(9), "big") >> 2
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = int.from_bytes(os.urandom(9), "big") >> 2
        value = (
            (_last_ms << 80)
            | (0x7 << 76)
            | ((_counter >> 62) << 64)
            | (0b10 << 62)
            | (_counter & ((1 << 62) - 1))
        )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id_ts(event_id: str) -> int:
    """Return the Unix time in milliseconds embedded in a UUIDv7 ``event_id``."""
    return int(event_id.replace("-", "")[:12], 16)
