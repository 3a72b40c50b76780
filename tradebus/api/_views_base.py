"""What every answer of the read endpoints shares: the base of their views (one msgspec
Struct per kind of item, and its page, in a module per resource), the types of their
times and cursors, and the body of an error.

Every time is given twice: in nanoseconds since the Unix epoch (an integer, named as
it is stored: ``ts``, ``opened_ts``, ``ts_open``, ...) and as an ISO-8601 UTC text to
the nanosecond (``2026-01-31T12:00:00.123456789Z``): ``ts`` -> ``time``, ``X_ts`` ->
``X_at``, ``ts_open`` -> ``opened_at``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = ["ErrorBody", "Iso", "NextCursor", "Ns", "View"]

Ns = Annotated[int, Meta(ge=0, description="ns since the Unix epoch, UTC")]
Iso = Annotated[str, Meta(description="the same time, ISO-8601 UTC, to the nanosecond")]
NextCursor = Annotated[
    str | None,
    Meta(description="pass as `cursor` for the next page; null: this is the last page"),
]


class View(msgspec.Struct, frozen=True, kw_only=True):
    """The base of every view: frozen, keyword-only."""


class ErrorBody(View, frozen=True, kw_only=True):
    """An error: its HTTP status and what went wrong (``extra``: the parameters at fault)."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | dict[str, Any] | None = None
