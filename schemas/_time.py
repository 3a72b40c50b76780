"""Timestamps: integer nanoseconds since the Unix epoch, UTC, and display helpers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["format_ts", "now_ns", "ts_to_datetime"]

now_ns = time.time_ns


def ts_to_datetime(ts: int) -> datetime:
    """Return the aware UTC datetime of ``ts`` (nanoseconds; sub-microseconds dropped)."""
    return datetime.fromtimestamp(ts // 1_000 / 1_000_000, tz=UTC)


def format_ts(ts: int) -> str:
    """Return ``ts`` as ISO 8601 UTC with microseconds, for display."""
    return ts_to_datetime(ts).isoformat(timespec="microseconds").replace("+00:00", "Z")
