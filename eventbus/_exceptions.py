"""The errors of ``eventbus``.

Exception tree (under tradebus's root, ``TradebusError``)::

    TradebusError
    └── EventBusError          anything the bus refuses or cannot do
        ├── BusFull            a ``block`` subscription has no room (publish_nowait)
        ├── BusClosed          the bus or the subscription is closed
        └── NotStored          a message was acknowledged as processed but not stored
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebus_errors import TradebusError

if TYPE_CHECKING:
    from ._subscription import Subscription

__all__ = ["BusClosed", "BusFull", "EventBusError", "NotStored"]


class EventBusError(TradebusError):
    """Base class of every error the event bus raises."""


class BusFull(EventBusError):
    """A subscription with the ``block`` overflow policy has no room for the message.

    Nothing was delivered to any subscription. Use ``await bus.publish(...)`` to wait
    for room instead (backpressure), or give the subscription a larger ``max_buffer``.
    """

    def __init__(self, subscription: Subscription) -> None:
        #: The full subscription (None in a copy that crossed processes).
        self.subscription: Subscription | None = subscription
        #: Its name and how many messages it holds at most.
        self.name = subscription.name
        self.max_buffer = subscription.max_buffer
        super().__init__(_full_text(self.name, self.max_buffer))

    def __reduce__(self) -> tuple[Any, ...]:
        # A subscription belongs to one process: a copy keeps its name and size.
        return (_rebuild_bus_full, (self.name, self.max_buffer))


def _full_text(name: str, max_buffer: int) -> str:
    return (
        f"subscription {name!r} is full ({max_buffer} messages buffered); nothing was "
        "delivered: await publish() to wait for room"
    )


def _rebuild_bus_full(name: str, max_buffer: int) -> BusFull:
    error = BusFull.__new__(BusFull)
    EventBusError.__init__(error, _full_text(name, max_buffer))
    error.subscription = None
    error.name = name
    error.max_buffer = max_buffer
    return error


class BusClosed(EventBusError):
    """The bus (or the subscription) is closed: no more publishing or receiving."""


class NotStored(EventBusError):
    """A durable subscription acknowledged the message as processed but not stored.

    A writer reports this for an event it moved to its ``dead_letters`` table: the
    rest of its batch is stored, this event is not (as the caller meant it). The
    attributes name the message: ``event_type``, ``topic``, ``seq``, ``reason`` and
    the ``subscription`` that refused it; ``more`` counts the further messages that
    the same report covers (a flush reports every failure it waited for, once).
    """

    def __init__(
        self,
        *,
        event_type: str,
        topic: str,
        seq: int,
        reason: str,
        subscription: str,
        more: int = 0,
    ) -> None:
        self.event_type = event_type
        self.topic = topic
        self.seq = seq
        self.reason = reason
        self.subscription = subscription
        self.more = more
        text = (
            f"{event_type} (topic {topic!r}, seq {seq}) was not stored by "
            f"{subscription!r}: {reason}"
        )
        if more:
            text += f"; {more} more messages covered by this call were not stored either"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuilt from them, so that it crosses processes.
        fields = {
            "event_type": self.event_type,
            "topic": self.topic,
            "seq": self.seq,
            "reason": self.reason,
            "subscription": self.subscription,
            "more": self.more,
        }
        return (_rebuild_not_stored, (fields,))


def _rebuild_not_stored(fields: dict[str, Any]) -> NotStored:
    return NotStored(**fields)
