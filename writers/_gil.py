"""The interpreter's thread switch interval, shortened while writers run.

A writer runs its statements in its SQLite thread; SQLite releases the GIL while
a statement steps, and the thread must win it back to bind the next one. With
CPython's default interval (5 ms) a thread that asks for the GIL waits up to 5 ms
for the holder to let go, and never gets it while the event loop keeps dropping
and retaking it in ``select`` more often than that (a busy producer yielding to the
loop does): the writer then starves until the producer pauses. A shorter interval
lets the two threads overlap (SQLite on one core, the producer on the other).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_SWITCH_INTERVAL", "shortened_switch_interval"]

#: What a writer asks for by default: a tenth of CPython's default.
DEFAULT_SWITCH_INTERVAL = 0.0005

_lock = threading.Lock()
_holders = 0
_saved: float | None = None  # the interval before the first holder shortened it
_ours: float | None = None  # the interval the holders set


def _reset_in_a_forked_child() -> None:
    """A forked child runs none of its parent's writers: no holders, a fresh lock
    (another thread of the parent may have held it at the fork)."""
    global _lock, _holders
    _lock = threading.Lock()
    _holders = 0


os.register_at_fork(after_in_child=_reset_in_a_forked_child)


@contextmanager
def shortened_switch_interval(seconds: float | None) -> Iterator[None]:
    """Make ``sys.getswitchinterval()`` at most ``seconds`` while in the block.

    Nested and concurrent uses share one setting: the shortest any of them asked
    for. The interval in force before the first of them is restored when the last
    one leaves, unless the application changed it while they ran (then it is left
    as the application set it). ``None`` leaves the interval alone.
    """
    global _holders, _saved, _ours
    if seconds is None:
        yield
        return
    with _lock:
        current = sys.getswitchinterval()
        if _holders == 0:
            _saved = _ours = current
        elif current != _ours:  # the application changed it meanwhile: its call now
            _saved = None
            _ours = current
        _holders += 1
        if current > seconds:
            sys.setswitchinterval(seconds)
            _ours = sys.getswitchinterval()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                if _saved is not None and sys.getswitchinterval() == _ours:
                    sys.setswitchinterval(_saved)
                _saved = _ours = None
