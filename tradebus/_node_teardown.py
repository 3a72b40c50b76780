"""What a node raises when it is not running, and when its task group ends with errors."""

from __future__ import annotations

from typing import NoReturn

import anyio

from eventbus import BusClosed, EventBusError
from writers import WriterError

from ._exceptions import TradebusError

__all__ = ["caused_by_stop", "raise_not_running", "settle_group"]


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


def raise_not_running(topic: str, writer_error: BaseException | None, entered: bool) -> NoReturn:
    """Refuse a publish of ``topic``: a writer of the node failed (``writer_error``),
    or the node is not started, or (``entered``) closed."""
    if writer_error is not None:
        raise BusClosed(
            f"cannot publish {topic!r}: a writer of this node failed "
            f"({type(writer_error).__name__}: {writer_error}); the node is shutting down "
            "and nothing was enqueued"
        ) from writer_error
    state = "closed" if entered else "not started"
    raise TradebusError(
        f"cannot publish {topic!r}: the node is {state}: use "
        "`async with open_node(...) as node:` and publish inside the block; "
        "nothing was enqueued"
    )
