"""The errors of ``eventbus``.

Exception tree::

    EventBusError          anything the bus refuses or cannot do
    ├── BusFull            a ``block`` subscription has no room (publish_nowait)
    └── BusClosed          the bus or the subscription is closed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._subscription import Subscription

__all__ = ["BusClosed", "BusFull", "EventBusError"]


class EventBusError(Exception):
    """Base class of every error the event bus raises."""


class BusFull(EventBusError):
    """A subscription with the ``block`` overflow policy has no room for the message.

    Nothing was delivered to any subscription. Use ``await bus.publish(...)`` to wait
    for room instead (backpressure), or give the subscription a larger ``max_buffer``.
    """

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        super().__init__(
            f"subscription {subscription.name!r} is full "
            f"({subscription.max_buffer} messages buffered); nothing was delivered: "
            "await publish() to wait for room"
        )


class BusClosed(EventBusError):
    """The bus (or the subscription) is closed: no more publishing or receiving."""
