"""Where a topic's messages go, and whether an event may be published at all."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from ._exceptions import EventBusError
from ._inbox import Inbox
from ._message import Envelope
from ._outcomes import Ledger
from ._subscription import Subscription
from ._topics import check_topic

__all__ = ["Route", "Router", "foreign_thread", "not_its_topic", "own_topic"]

#: Routes cached at most; a flood of distinct topics must not grow the cache forever.
MAX_ROUTES = 100_000


class Route(NamedTuple):
    """The inboxes of the subscriptions a topic's messages go to."""

    inboxes: tuple[Inbox, ...]
    #: Those that make a publisher wait (or raise BusFull) when full.
    blocking: tuple[Inbox, ...]
    #: Those that do not receive messages of their own origin (``echo=False``).
    muting: tuple[Inbox, ...]

    def recipients(self, origin: str | None) -> Route:
        """The route of a message from ``origin``: without the inboxes muting it."""
        if origin is None or not self.muting:
            return self
        if all(inbox.muted_origin != origin for inbox in self.muting):
            return self
        inboxes = tuple(i for i in self.inboxes if i.muted_origin != origin)
        return Route(
            inboxes=inboxes,
            blocking=tuple(i for i in inboxes if not i.drop_oldest),
            muting=(),
        )

    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(inbox.subscription for inbox in self.inboxes)


class Router:
    """The bus's state that publishing shares: subscriptions, cached routes, the last
    sequence number, the hooks and the ledger. Attributes are public for the bus's
    modules; users go through :class:`~eventbus.EventBus`."""

    def __init__(
        self,
        *,
        admit: Callable[[Any], str] | None,
        encode: Callable[[Any], bytes] | None,
        decoder: Callable[[bytes], Any] | None,
        on_unrouted: Callable[[str], None] | None,
    ) -> None:
        self.admit = admit
        self.encode = encode if encode is not None else msgspec.msgpack.Encoder().encode
        self.decoder = decoder
        self.on_unrouted = on_unrouted
        #: The last sequence number given to a message.
        self.seq = 0
        self.subscriptions: list[Subscription] = []
        self.routes: dict[str, Route] = {}
        #: topic -> the inbox of its only subscription, if it has exactly one (the hot path)
        self.single: dict[str, Inbox] = {}
        #: topic -> the inboxes of its subscriptions, if it has several (a writer and the
        #: services on the ticks: the hot path too)
        self.several: dict[str, tuple[Inbox, ...]] = {}
        self.ledger = Ledger()
        self.closed = False
        #: What tells the thread the bus belongs to: the one running its event loop
        #: once it is entered (before that, the one that made it). Only it may
        #: publish. A thread-local that only that thread sees filled in: cheaper to
        #: look at than comparing ``threading.get_ident()`` (a new int per call), and
        #: a later thread given a dead owner's ident is not taken for it.
        self.owner_mark = _new_mark()
        #: Whether the bus was entered (its owner thread runs its event loop).
        self.running = False
        #: What the messages published alone share (in-process, and foreign).
        self.local = Envelope(self.encode, foreign=False)
        self.foreign = Envelope(
            decoder if decoder is not None else msgspec.msgpack.decode, foreign=True
        )

    def check_thread(self, method: str) -> None:
        """Raise unless called from the thread the bus belongs to.

        :raises EventBusError: naming ``method`` and ``publish_threadsafe``.
        """
        if not self.owner_mark.__dict__:
            raise foreign_thread(method, self.running)

    def owns(self) -> bool:
        """Whether the calling thread is the one the bus belongs to."""
        return bool(self.owner_mark.__dict__)

    def take_over(self) -> threading.local:
        """Make the calling thread the one the bus belongs to; return its mark."""
        self.owner_mark = _new_mark()
        return self.owner_mark

    def forget_routes(self) -> None:
        self.routes.clear()
        self.single.clear()
        self.several.clear()

    def route(self, topic: str) -> Route:
        """The route of ``topic`` (cached).

        :raises BusClosed: if the bus is closed, or the durable subscription that
            stored ``topic`` failed and none took it over.
        :raises ValueError: if ``topic`` is not a valid topic.

        What the ``on_unrouted`` hook raises reaches the caller.
        """
        return self.routes.get(topic) or self._resolve(topic)

    def _resolve(self, topic: str) -> Route:
        if self.closed:  # a closed bus caches no routes: its publishes take the slow path
            raise self.ledger.closed_error()
        check_topic(topic)
        subscriptions = tuple(
            s for s in self.subscriptions if any(p.matches(topic) for p in s.patterns)
        )
        inboxes = tuple(s.inbox for s in subscriptions)
        route = Route(
            inboxes=inboxes,
            blocking=tuple(i for i in inboxes if not i.drop_oldest),
            muting=tuple(i for i in inboxes if i.muted_origin is not None),
        )
        if not any(s.durable for s in subscriptions):
            # Its durable subscription failed: nothing would store it. May raise.
            self.ledger.check_topic(topic)
            if self.on_unrouted is not None:
                self.on_unrouted(topic)  # may raise; then the topic is not cached

        if len(self.routes) > MAX_ROUTES:
            self.forget_routes()
        self.routes[topic] = route
        if len(inboxes) == 1:  # the common case (a writer): the hot path's dict
            self.single[topic] = inboxes[0]
        elif inboxes:  # a writer and services (candles, the monitor)
            self.several[topic] = inboxes
        return route

    def topic_of(self, event: Any, topic: str | None = None) -> str:
        """Admit ``event`` (the ``admit`` hook, if any) and return the topic it goes to."""
        admit = self.admit
        if admit is not None:
            its_own = admit(event)
            if topic is None:
                return its_own
            if topic != its_own:
                raise not_its_topic(event, topic, its_own)
            return topic
        return own_topic(event) if topic is None else topic

    def check_encoded(self, data: bytes, topic: str) -> None:
        """On a bus that admits what it routes, refuse bytes that are not an event of
        ``topic`` (a persistent event is routed by what it is, never by a caller's word)."""
        admit, decoder = self.admit, self.decoder
        if admit is None or decoder is None:
            return
        event = decoder(data)
        its_own = admit(event)
        if topic != its_own:
            raise not_its_topic(event, topic, its_own)


def own_topic(event: Any) -> str:
    """The event's own ``topic`` attribute, or raise EventBusError."""
    try:
        topic = event.topic
    except (AttributeError, NotImplementedError):
        topic = None
    if type(topic) is not str:
        raise EventBusError(f"{type(event).__name__} has no topic of its own: pass topic=...")
    return topic


def _new_mark() -> threading.local:
    """A thread-local that only the calling thread sees filled in."""
    mark = threading.local()
    mark.owner = True
    return mark


def foreign_thread(method: str, running: bool) -> EventBusError:
    """The error of a publish from a thread the bus does not belong to."""
    owner = (
        "the thread running its event loop"
        if running
        else "the thread that made it (it is not entered yet)"
    )
    return EventBusError(
        f"{method}() called from thread {threading.current_thread().name!r}: an EventBus "
        f"is not thread-safe and belongs to {owner}; nothing was delivered. From another "
        "thread, use bus.publish_threadsafe(event) (it hands the event to the event loop "
        "and waits for room)"
    )


def not_its_topic(event: Any, topic: str, its_own: str) -> EventBusError:
    return EventBusError(
        f"cannot publish {type(event).__name__} to {topic!r}: its own topic is "
        f"{its_own!r} and this bus routes events by their own topic; pass no topic "
        "(nothing was delivered)"
    )


def waited_on(subscriptions: tuple[Subscription, ...]) -> tuple[Subscription, ...]:
    """The subscriptions whose acknowledgement counts: the durable ones if any (their
    acknowledgement means stored), else every one that received the message."""
    durable = tuple(s for s in subscriptions if s.durable)
    return durable or subscriptions
