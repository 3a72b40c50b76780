"""Checks of a writer's options: a wrong one is refused when the writer is made.

A count must be an int of at least one; a duration a finite number of seconds. The
error names the option, the value given and what is allowed, at once, instead of a
writer that fails later on its first batch or at shutdown.
"""

from __future__ import annotations

import math

from ._exceptions import InvalidOption

__all__ = ["check_count", "check_seconds", "check_writer_options"]


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as a count of at least ``minimum``.

    :raises InvalidOption: if it is not an int (a bool is not one) or is smaller.
    """
    if type(value) is not int:
        raise InvalidOption(name, value, f"an int >= {minimum}")
    if value < minimum:
        raise InvalidOption(name, value, f"an int >= {minimum}")
    return value


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """``value`` as a finite duration in seconds, >= 0 (> 0 if ``positive``).

    :raises InvalidOption: if it is not a real number, is NaN or infinite, or too small.
    """
    allowed = f"a finite number of seconds {'> 0' if positive else '>= 0'}"
    if type(value) not in (int, float):
        raise InvalidOption(name, value, allowed)
    try:
        seconds = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
    except OverflowError:  # an int beyond a float
        raise InvalidOption(name, value, allowed) from None
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise InvalidOption(name, value, allowed)
    return seconds


def check_writer_options(
    *,
    max_batch: object = 1,
    max_delay: object = 0.0,
    synchronous: object = "NORMAL",
    max_buffer: object = 1,
    busy_timeout: object = 0.0,
    max_backoff: object = 1.0,
    drain_timeout: object = 0.0,
    switch_interval: object = None,
) -> None:
    """Refuse a :class:`~writers.WriterActor` option that is not allowed, before any
    writer is made (a node checks its options when it is opened).

    :raises InvalidOption: naming the option, the value and what is allowed.
    """
    check_count("max_batch", max_batch)
    check_seconds("max_delay", max_delay)
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise InvalidOption("synchronous", synchronous, "OFF, NORMAL, FULL or EXTRA")
    check_count("max_buffer", max_buffer)
    check_seconds("busy_timeout", busy_timeout)
    check_seconds("max_backoff", max_backoff, positive=True)
    check_seconds("drain_timeout", drain_timeout)
    if switch_interval is not None:
        check_seconds("switch_interval", switch_interval, positive=True)
