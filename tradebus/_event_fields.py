"""Fields a trade-integration call fills in itself: an event's identity (its
``event_id`` and ``ts``) and a close's outcome."""

from __future__ import annotations

from typing import Any

import schemas
from schemas import Event, Outcome

__all__ = ["identity", "outcome_of"]


def outcome_of(realized_pnl: float) -> Outcome:
    """``win``, ``loss`` or ``breakeven`` for a realized profit and loss."""
    if realized_pnl > 0:
        return "win"
    if realized_pnl < 0:
        return "loss"
    return "breakeven"


def identity(
    event_type: type[Event], event_id: str | None, ts: int | None = None
) -> dict[str, Any]:
    """The ``event_id`` and ``ts`` fields of a new event.

    A caller's ``event_id`` is checked; without one, a new id is made. The id fixes
    the ``ts`` (its millisecond, unless ``ts`` is given): a retry with that
    ``event_id`` builds the very same event.

    :raises InvalidEvent: if ``event_id`` is not of the format ``EVENT_ID_FORMAT``.
    """
    if event_id is None:
        event_id = schemas.new_event_id()
    else:
        event_id = schemas.check_event_id(event_id, event_type.__name__)
    if ts is None:
        # Whether the id is the caller's or new: a retry that passes the id this call
        # returns builds the very same event.
        ts = schemas.event_id_ts(event_id) * 1_000_000
    return {"event_id": event_id, "ts": ts}
