"""The in-process async event bus."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import anyio.from_thread
import msgspec
from anyio.abc import TaskGroup
from anyio.lowlevel import EventLoopToken, checkpoint, current_token

from ._exceptions import BusClosed, BusFull, EventBusError
from ._message import Message
from ._outcomes import Ledger
from ._subscription import Overflow, Subscription, SubscriptionStatistics
from ._topics import check_topic, compile_patterns

__all__ = ["BusStatistics", "EventBus"]

_monotonic = time.monotonic


class BusStatistics(NamedTuple):
    """Counters of the bus and of each of its subscriptions."""

    published: int
    subscriptions: tuple[SubscriptionStatistics, ...]


class _Route(NamedTuple):
    subscriptions: tuple[Subscription, ...]
    blocking: tuple[Subscription, ...]


class EventBus:
    """Routes msgspec-encodable events by topic to bounded, per-subscriber buffers.

    Use as ``async with EventBus() as bus``. Publishing is a synchronous append
    (:meth:`publish_nowait`); :meth:`publish` waits for room instead of raising.

    :param admit: called with every event before it is encoded: it raises to refuse
        the event and returns the event's own topic (one call does both, because this
        is the hot path). Without it, the topic is ``event.topic`` and nothing is checked.
    :param encode: turns an event into bytes (default: msgpack).
    :param decoder: decodes ``Message.data`` for messages that arrive from elsewhere.
    :param on_unrouted: called with a topic that no durable subscription matches,
        when its route is worked out: once per topic (again after subscriptions
        change). Raise to refuse the publish (nothing is delivered then); a refused
        topic is not cached, so every publish to it asks again.
    """

    def __init__(
        self,
        *,
        admit: Callable[[Any], str] | None = None,
        encode: Callable[[Any], bytes] | None = None,
        decoder: Callable[[bytes], Any] | None = None,
        on_unrouted: Callable[[str], None] | None = None,
    ) -> None:
        self._admit = admit
        self._encode = encode if encode is not None else msgspec.msgpack.Encoder().encode
        self.decoder = decoder
        self._on_unrouted = on_unrouted
        self._seq = 0
        self._subscriptions: list[Subscription] = []
        self._routes: dict[str, _Route] = {}
        #: topic -> its only subscription, for topics that have exactly one (the hot path)
        self._single: dict[str, Subscription] = {}
        self._names = 0
        self._ledger = Ledger()
        self._closed = False
        self._entered = False
        self._token: EventLoopToken | None = None
        self._loop_thread: int | None = None
        self._task_group: TaskGroup | None = None
        if admit is not None:
            # The tick hot path: publish_nowait as a closure over what it needs saves
            # its attribute lookups and the closed check (a closed bus caches no
            # routes, so its publishes take the slow path, which raises BusClosed):
            # about 4% of a publish's instructions.
            self.publish_nowait = self._fast_publish_nowait(admit)  # type: ignore[method-assign]

    # -------------------------------------------------------------------- context

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("an EventBus can be entered only once")
        self._entered = True
        self._token = current_token()
        self._loop_thread = threading.get_ident()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        task_group = self._task_group
        assert task_group is not None
        task_group.cancel_scope.cancel()
        # The body's exception is not handed to the task group, so that it reaches the
        # caller as itself rather than wrapped in an exception group.
        await task_group.__aexit__(None, None, None)

    def close(self) -> None:
        """Refuse further publishes; what subscriptions buffer stays receivable."""
        if self._closed:
            return
        self._closed = True
        self._forget_routes()
        for subscription in self._subscriptions:
            subscription._bus_closing()

    @property
    def closed(self) -> bool:
        return self._closed

    # --------------------------------------------------------------- subscribing

    def subscribe(
        self,
        pattern: str | Iterable[str],
        *,
        max_buffer: int = 100_000,
        overflow: Overflow = "block",
        durable: bool = False,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to the topics matching ``pattern`` (or any of a list of patterns).

        ``*`` matches one token, ``>`` one or more trailing tokens. ``overflow="block"``
        applies backpressure to publishers when ``max_buffer`` messages wait;
        ``"drop_oldest"`` never blocks and counts what it drops. A ``durable``
        subscription is one that stores what it receives (a writer).

        :raises BusClosed: if the bus is closed.
        """
        if self._closed:
            raise BusClosed("cannot subscribe: the bus is closed")
        patterns = compile_patterns(pattern)
        self._names += 1
        subscription = Subscription(
            name=name or f"sub-{self._names}",
            patterns=patterns,
            max_buffer=max_buffer,
            overflow=overflow,
            durable=durable,
            ledger=self._ledger,
            on_close=self._forget,
        )
        self._subscriptions.append(subscription)
        self._forget_routes()
        return subscription

    def _forget(
        self, subscription: Subscription, unacknowledged: float, error: BaseException | None
    ) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._forget_routes()
        if subscription.durable and (unacknowledged < math.inf or error is not None):
            # A failed consumer abandons what it held, or else what comes next.
            first = unacknowledged if unacknowledged < math.inf else self._seq + 1
            self._ledger.abandon(subscription.name, subscription.patterns, first, error)

    def _forget_routes(self) -> None:
        self._routes.clear()
        self._single.clear()

    def _resolve(self, topic: str) -> _Route:
        if self._closed:  # a closed bus caches no routes: its publishes take the slow path
            raise self._ledger.closed_error()
        check_topic(topic)
        subscriptions = tuple(
            s for s in self._subscriptions if any(p.matches(topic) for p in s.patterns)
        )
        route = _Route(
            subscriptions=subscriptions,
            blocking=tuple(s for s in subscriptions if not s._drop_oldest),
        )
        if not any(s.durable for s in subscriptions):
            # Its durable subscription failed: nothing would store it. May raise.
            self._ledger.check_topic(topic)
            if self._on_unrouted is not None:
                self._on_unrouted(topic)  # may raise; then the topic is not cached

        if len(self._routes) > 100_000:  # a flood of distinct topics must not grow it forever
            self._forget_routes()
        self._routes[topic] = route
        if len(subscriptions) == 1:  # the common case (a writer): the hot path's dict
            self._single[topic] = subscriptions[0]
        return route

    # ---------------------------------------------------------------- publishing

    def _prepare(self, event: Any, topic: str | None) -> tuple[str, bytes, _Route]:
        if self._closed:
            raise self._ledger.closed_error()
        admit = self._admit
        if admit is not None:
            own_topic = admit(event)
            if topic is None:
                topic = own_topic
            elif topic != own_topic:
                raise _not_its_topic(event, topic, own_topic)
        elif topic is None:
            topic = _own_topic(event)
        data = self._encode(event)
        route = self._routes.get(topic) or self._resolve(topic)
        return topic, data, route

    def _deliver(
        self, topic: str, data: bytes, event: Any, route: _Route, foreign: bool = False
    ) -> int:
        for subscription in route[1]:
            if len(subscription._buffer) >= subscription._max_buffer:
                raise BusFull(subscription)
        self._seq = seq = self._seq + 1
        if foreign:
            message = Message(topic, seq, data, None, self.decoder, True)
        else:
            message = Message(topic, seq, data, event)
        for subscription in route[0]:
            buffer = subscription._buffer
            if not buffer:
                subscription._first_at = _monotonic()
            elif subscription._drop_oldest and len(buffer) >= subscription._max_buffer:
                subscription._drop_oldest_message()
            buffer.append(message)
            if len(buffer) >= subscription._wake_at:
                subscription._wake()
        return seq

    def publish_nowait(self, event: Any, topic: str | None = None) -> int:
        """Check (with the ``admit`` hook, if any), encode and append ``event`` to every
        matching subscription.

        Returns the message's bus-wide sequence number. What the ``admit`` and
        ``on_unrouted`` hooks raise (in a node: ``InvalidEvent``, ``NoRoute``) reaches
        the caller, and nothing is delivered.

        :raises EventBusError: if ``topic`` is None and the event has none of its own,
            or, on a bus with an ``admit`` hook, if ``topic`` is not the event's own.
        :raises ValueError: if ``topic`` is not a valid topic.
        :raises BusFull: if a matching ``block`` subscription is full (nothing delivered).
        :raises BusClosed: if the bus is closed (a bus with an ``admit`` hook checks
            the event first, so an invalid one raises the hook's error instead).
        """
        # A bus with an admit hook replaces this method by _fast_publish_nowait's closure.
        topic, data, route = self._prepare(event, topic)
        return self._deliver(topic, data, event, route)

    def _fast_publish_nowait(self, admit: Callable[[Any], str]) -> Callable[..., int]:
        """:meth:`publish_nowait` for a bus with an ``admit`` hook, as a closure."""
        encode = self._encode
        single = self._single.get
        slow = self._publish_slow
        bus = self

        def publish_nowait(event: Any, topic: str | None = None) -> int:
            own_topic = admit(event)
            if topic is None:
                topic = own_topic
            elif topic != own_topic:
                raise _not_its_topic(event, topic, own_topic)
            data = encode(event)
            only = single(topic)
            if only is not None:
                buffer = only._buffer
                # Neither the first message (which starts the batch clock), nor one
                # that fills the buffer or wakes a receiver: just append.
                if 0 < len(buffer) < only._append_below:
                    bus._seq = seq = bus._seq + 1
                    buffer.append(Message(topic, seq, data, event))
                    return seq
            return slow(topic, data, event)

        publish_nowait.__doc__ = EventBus.publish_nowait.__doc__
        return publish_nowait

    def _publish_slow(self, topic: str, data: bytes, event: Any) -> int:
        """Deliver what the fast path does not (see :meth:`_deliver`)."""
        if self._closed:
            raise self._ledger.closed_error()
        return self._deliver(topic, data, event, self._routes.get(topic) or self._resolve(topic))

    async def publish(self, event: Any, topic: str | None = None, *, wait: bool = False) -> int:
        """Publish ``event``, waiting for room in full subscriptions (backpressure).

        With ``wait=True``, return only once the message is acknowledged: by the
        durable subscriptions that received it (for a writer: once it is committed),
        or, if none did, by every subscription that received it.

        Raises what :meth:`publish_nowait` raises, except :class:`BusFull`, and:

        :raises BusClosed: if the bus is closed, or closes while this waits for room;
            with ``wait=True``, if a durable subscription that received the message
            closed (its consumer failed: the cause) before acknowledging it.
        :raises NotStored: with ``wait=True``, if the message was acknowledged as not
            stored (for a writer: it went to dead_letters).
        """
        await checkpoint()
        topic, data, route = self._prepare(event, topic)
        return await self._deliver_waiting(topic, data, event, route, wait)

    async def _deliver_waiting(
        self, topic: str, data: bytes, event: Any, route: _Route, wait: bool, foreign: bool = False
    ) -> int:
        while True:
            try:
                seq = self._deliver(topic, data, event, route, foreign)
                break
            except BusFull as exc:
                await exc.subscription._wait_room()
                if self._closed:
                    closed = self._ledger.closed_error()
                    raise closed from closed.__cause__
                # Subscriptions may have come or gone while we waited.
                route = self._routes.get(topic) or self._resolve(topic)
        if wait:
            await self._wait_stored(seq, _waited_on(route.subscriptions))
        return seq

    async def _wait_stored(self, seq: int, subscriptions: tuple[Subscription, ...]) -> None:
        """Wait until message ``seq`` is acknowledged; raise if it was not stored."""
        ledger = self._ledger
        ledger.watch(seq)
        reported = False
        try:
            for subscription in subscriptions:
                await subscription.wait_done(seq)
            reported = True
        finally:
            failure = ledger.unwatch(seq, report=reported)
        if failure is not None:
            raise failure

    def publish_encoded_nowait(self, data: bytes, topic: str) -> int:
        """Publish an event that arrives already encoded (from another process).

        Subscribers get ``Message.event`` decoded lazily by the bus's ``decoder``. On a
        bus with both an ``admit`` hook and a ``decoder`` (a node's bus), the bytes are
        decoded and admitted first, and ``topic`` must be the event's own topic, as for
        :meth:`publish_nowait`; elsewhere nothing is checked here (the receiver of
        foreign data decides).

        :raises EventBusError: if ``topic`` is not the event's own (nothing delivered).
        :raises BusFull: if a matching ``block`` subscription is full (nothing delivered).
        :raises BusClosed: if the bus is closed.

        What the ``decoder`` and ``admit`` hooks raise for bytes that are not a valid
        event reaches the caller, and nothing is delivered.
        """
        if self._closed:
            raise self._ledger.closed_error()
        data = bytes(data)
        self._check_encoded(data, topic)
        route = self._routes.get(topic) or self._resolve(topic)
        return self._deliver(topic, data, None, route, foreign=True)

    def _check_encoded(self, data: bytes, topic: str) -> None:
        """On a bus that admits what it routes, refuse bytes that are not an event of
        ``topic`` (a persistent event is routed by what it is, never by a caller's word)."""
        admit, decoder = self._admit, self.decoder
        if admit is None or decoder is None:
            return
        event = decoder(data)
        own_topic = admit(event)
        if topic != own_topic:
            raise _not_its_topic(event, topic, own_topic)

    async def publish_encoded(self, data: bytes, topic: str, *, wait: bool = False) -> int:
        """Like :meth:`publish_encoded_nowait`, waiting for room instead of raising."""
        await checkpoint()
        if self._closed:
            raise self._ledger.closed_error()
        data = bytes(data)
        self._check_encoded(data, topic)
        route = self._routes.get(topic) or self._resolve(topic)
        return await self._deliver_waiting(topic, data, None, route, wait, foreign=True)

    def publish_threadsafe(
        self, event: Any, topic: str | None = None, *, wait: bool = False
    ) -> int:
        """Publish from a thread that is not the bus's event loop thread.

        Blocks the calling thread until there is room (it never drops), and with
        ``wait=True`` until the message is acknowledged.

        :raises BusClosed: if the bus is closed (or its event loop has finished).
        :raises RuntimeError: if called from the event loop thread itself.
        """
        if self._token is None:
            raise BusClosed("the bus is not running: enter it with 'async with' first")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("publish_threadsafe() called from the event loop: use publish()")
        if self._closed:
            raise self._ledger.closed_error()
        try:
            return anyio.from_thread.run(
                lambda: self.publish(event, topic, wait=wait), token=self._token
            )
        except anyio.RunFinishedError:
            raise BusClosed("cannot publish: the bus's event loop has finished") from None

    async def flush(self, seq: int | None = None) -> None:
        """Return when every message published before the call (or up to ``seq``) is
        acknowledged.

        When the bus has durable subscriptions (writers), only they are waited for:
        a flush means "committed", and a slow in-process reader must not hold it.
        Otherwise every subscription that received a message waits for it. Closed
        subscriptions and messages dropped by ``drop_oldest`` do not hold a flush.

        :raises BusClosed: if a durable subscription closed (its consumer failed: the
            cause) before acknowledging one of those messages: they are not stored.
        :raises NotStored: if one of those messages was acknowledged as not stored
            (for a writer: it went to dead_letters) and no publisher waiting for it was
            told; each such message is reported once, to one flush.
        """
        await checkpoint()
        last = self._seq if seq is None else seq
        ledger = self._ledger
        ledger.check_abandoned(last)  # then the durable subscriptions may all be gone
        for subscription in _waited_on(tuple(self._subscriptions)):
            await subscription.wait_done(last)
        ledger.check_abandoned(last)
        failure = ledger.take_upto(last)
        if failure is not None:
            raise failure

    # ---------------------------------------------------------------- inspection

    @property
    def published(self) -> int:
        """How many messages were published (the last sequence number)."""
        return self._seq

    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    def statistics(self) -> BusStatistics:
        """Return the published count and every subscription's counters."""
        return BusStatistics(
            published=self._seq,
            subscriptions=tuple(s.statistics() for s in self._subscriptions),
        )


def _own_topic(event: Any) -> str:
    try:
        topic = event.topic
    except (AttributeError, NotImplementedError):
        topic = None
    if type(topic) is not str:
        raise EventBusError(f"{type(event).__name__} has no topic of its own: pass topic=...")
    return topic


def _not_its_topic(event: Any, topic: str, own_topic: str) -> EventBusError:
    return EventBusError(
        f"cannot publish {type(event).__name__} to {topic!r}: its own topic is "
        f"{own_topic!r} and this bus routes events by their own topic; pass no topic "
        "(nothing was delivered)"
    )


def _waited_on(subscriptions: tuple[Subscription, ...]) -> tuple[Subscription, ...]:
    """The subscriptions whose acknowledgement counts: the durable ones if any."""
    durable = tuple(s for s in subscriptions if s.durable)
    return durable or subscriptions
