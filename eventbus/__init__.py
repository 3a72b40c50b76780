"""A generic in-process async event bus: topics, bounded buffers, backpressure, flush.

It routes msgspec-encoded messages by NATS-style topic and knows nothing about
trading. Publishing is a synchronous append to one bounded buffer per subscription.
"""

from __future__ import annotations

from ._bus import EventBus as EventBus
from ._exceptions import BusClosed as BusClosed
from ._exceptions import BusFull as BusFull
from ._exceptions import EventBusError as EventBusError
from ._exceptions import NotStored as NotStored
from ._message import Headers as Headers
from ._message import Message as Message
from ._statistics import BusStatistics as BusStatistics
from ._statistics import Overflow as Overflow
from ._statistics import SubscriptionStatistics as SubscriptionStatistics
from ._subscription import Subscription as Subscription
from ._topics import Pattern as Pattern
from ._topics import check_topic as check_topic
from ._topics import matches as matches

__all__ = [
    "BusClosed",
    "BusFull",
    "BusStatistics",
    "EventBus",
    "EventBusError",
    "Headers",
    "Message",
    "NotStored",
    "Overflow",
    "Pattern",
    "Subscription",
    "SubscriptionStatistics",
    "check_topic",
    "matches",
]
