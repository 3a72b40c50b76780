"""The errors of ``tradebus``.

Exception tree: one root, ``TradebusError`` (from ``tradebus_errors``, exported here),
for every error tradebus raises. Each package draws its own branch (see its
``_exceptions``); the application layer's errors are the last four::

    TradebusError          anything tradebus refuses or cannot do
    ├── EventBusError      the bus (eventbus): BusFull, BusClosed, NotStored
    ├── WriterError        a writer (writers): WriterLockError, SchemaVersionError
    ├── InvalidEvent       an event is not valid (schemas; also a ValueError)
    ├── AccessDenied       this node does not host the role that owns that database
    │                      (not an OSError: no file's permissions are involved)
    ├── NoRoute            no role of the topology owns the event's database;
    │                      nothing enqueued (also a LookupError)
    ├── NotDelivered       an event sent to another role's database was refused by
    │                      its owner (it is in that database's dead_letters)
    └── ReferenceRefused   a call names a ticket or recommendation the committed state
        │                  does not allow; nothing enqueued (also a ValueError)
        ├── UnknownReference  no committed execution / recommendation has that id
        │                     (also a LookupError)
        ├── AlreadyRecorded   the ticket, recommendation_id or event_id is taken by
        │                     another event
        └── StaleUpdate       the update would change nothing: the position is closed,
                              or the recommendation's status is past it
"""

from __future__ import annotations

from tradebus_errors import TradebusError

__all__ = [
    "AccessDenied",
    "AlreadyRecorded",
    "NoRoute",
    "NotDelivered",
    "ReferenceRefused",
    "StaleUpdate",
    "TradebusError",
    "UnknownReference",
]


class AccessDenied(TradebusError):
    """A node may write only the databases of the roles it hosts.

    Not an ``OSError``: no file's permissions are involved, only the node's roles.
    """


class NoRoute(TradebusError, LookupError):
    """A persistent event has no writer to take it in this node; it was not enqueued."""


class NotDelivered(TradebusError):
    """Events this node sent to another role's database reached it, and its writer
    could not store them: they are in its ``dead_letters``, with their origin and
    position.

    ``database`` is the database's name, ``events`` a list of (outbox position,
    event type, error), in order.
    """

    def __init__(self, database: str, filename: str, events: list[tuple[int, str, str]]) -> None:
        self.database = database
        self.filename = filename
        self.events = events
        position, event_type, error = events[0]
        more = f" (and {len(events) - 1} more)" if len(events) > 1 else ""
        super().__init__(
            f"{event_type} sent to {database!r} (outbox position {position}) was not "
            f"stored by its owner: {error}{more}; see dead_letters in {filename}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.database, self.filename, self.events))


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
    """The ticket already has another execution or its close, the recommendation_id
    another recommendation, or the event_id another event (a retry must reuse the
    first call's ``event_id`` and arguments)."""


class StaleUpdate(ReferenceRefused):
    """The committed state has moved past the update, which would change nothing: the
    position is closed (a close is final), or the recommendation's status is of a later
    stage (pending < rejected = expired < executed < closed; closed is final).

    ``status`` is the committed status of the position or recommendation.
    """

    def __init__(
        self, message: str, *, field: str, value: object, database: str, status: str
    ) -> None:
        super().__init__(message, field=field, value=value, database=database)
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_stale,
            (str(self), self.field, self.value, self.database, self.status),
        )


def _rebuild(
    cls: type[ReferenceRefused], message: str, field: str, value: object, database: str
) -> ReferenceRefused:
    return cls(message, field=field, value=value, database=database)


def _rebuild_stale(
    message: str, field: str, value: object, database: str, status: str
) -> StaleUpdate:
    return StaleUpdate(message, field=field, value=value, database=database, status=status)
