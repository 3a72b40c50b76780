"""Timestamps: integer nanoseconds since the Unix epoch, UTC, and display helpers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["format_ts", "now_ns", "ts_to_datetime"]

now_ns = time.time_ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts_to_datetime(ts: int) -> datetime:
    """Return the aware UTC datetime of ``ts`` (nanoseconds; sub-microseconds dropped)."""
    # Integer arithmetic: a float of seconds is off by a microsecond for some ts.
    return _EPOCH + timedelta(microseconds=ts // 1_000)


def format_ts(ts: int) -> str:
    """Return ``ts`` as ISO 8601 UTC with microseconds, for display."""
    return ts_to_datetime(ts).isoformat(timespec="microseconds").replace("+00:00", "Z")
