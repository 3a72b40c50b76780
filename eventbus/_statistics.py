"""The counters the bus and its subscriptions report."""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["BusStatistics", "Overflow", "SubscriptionStatistics"]

Overflow = Literal["block", "drop_oldest"]


class SubscriptionStatistics(NamedTuple):
    """Counters of one subscription (see :meth:`Subscription.statistics`)."""

    name: str
    patterns: tuple[str, ...]
    overflow: Overflow
    max_buffer: int
    #: Messages waiting in the buffer, not yet received.
    buffered: int
    #: Messages received but not yet acknowledged.
    in_flight: int
    #: The most messages the buffer ever held.
    high_water: int
    #: Messages appended to the buffer (including those dropped later).
    delivered: int
    received: int
    acknowledged: int
    #: Messages discarded by the ``drop_oldest`` policy.
    dropped: int


class BusStatistics(NamedTuple):
    """Counters of the bus and of each of its subscriptions."""

    published: int
    subscriptions: tuple[SubscriptionStatistics, ...]
