"""What a node's shutdown raises when its task group ends with errors."""

from __future__ import annotations

import anyio

from eventbus import EventBusError
from writers import WriterError

__all__ = ["caused_by_stop", "settle_group"]


def settle_group(group: BaseExceptionGroup, exc: BaseException | None) -> None:
    """Raise what the caller should see of ``group`` (the errors of the node's tasks),
    given the body's own error ``exc``; return if the body's error wins.

    The body's own error wins (the tasks' errors were logged); a single task error is
    raised as itself; several writers' errors (a data directory deleted: each finds
    its file gone) reach the caller as the first, the others as its notes.
    """
    cancelled = anyio.get_cancelled_exc_class()
    errors = [e for e in group.exceptions if not isinstance(e, cancelled)]
    if exc is not None and not isinstance(exc, cancelled) and not caused_by_stop(exc):
        return
    if len(errors) == 1:
        raise errors[0] from None
    if errors and all(isinstance(e, WriterError) for e in errors):
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"another writer failed too: {other}")
        raise first from None
    raise group


def caused_by_stop(exc: BaseException) -> bool:
    """Whether the body failed only because the node was stopping (a closed bus)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(caused_by_stop(e) for e in exc.exceptions)
    return isinstance(exc, EventBusError | anyio.get_cancelled_exc_class())
