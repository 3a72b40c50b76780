"""The errors of ``tradebus``.

Exception tree::

    TradebusError        anything the application layer refuses
    ├── AccessDenied     this node does not host the role that owns that database
    ├── NoRoute          no writer in this node stores the event (nothing enqueued)
    └── ReferenceRefused a call names a ticket or recommendation the committed state
        │                does not allow (nothing enqueued)
        ├── UnknownReference  no committed execution / recommendation has that id
        └── AlreadyRecorded   the ticket or recommendation_id is taken by another event
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlreadyRecorded",
    "NoRoute",
    "ReferenceRefused",
    "TradebusError",
    "UnknownReference",
]


class TradebusError(Exception):
    """Base class of every error of the application layer."""


class AccessDenied(TradebusError, PermissionError):
    """A node may write only the databases of the roles it hosts."""


class NoRoute(TradebusError, LookupError):
    """A persistent event has no writer to take it in this node; it was not enqueued."""


class ReferenceRefused(TradebusError, ValueError):
    """A call names a ticket or recommendation that the committed state of the data
    directory does not allow; nothing was enqueued.

    ``field`` is the argument (``ticket``, ``recommendation_id``), ``value`` its value,
    ``database`` the file that was read.
    """

    def __init__(self, message: str, *, field: str, value: object, database: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.database = database

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), self.field, self.value, self.database))


class UnknownReference(ReferenceRefused, LookupError):
    """The ticket has no committed execution, or the recommendation_id no committed
    recommendation (it may be in flight: log it, awaited, first)."""


class AlreadyRecorded(ReferenceRefused):
    """The ticket already has another execution or its close, or the recommendation_id
    another recommendation (a retry must reuse the first call's ``event_id``)."""


def _rebuild(
    cls: type[ReferenceRefused], message: str, field: str, value: object, database: str
) -> ReferenceRefused:
    return cls(message, field=field, value=value, database=database)
