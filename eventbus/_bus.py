"""The in-process async event bus."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.from_thread
from anyio.abc import TaskGroup
from anyio.lowlevel import EventLoopToken, checkpoint, current_token

from ._delivery import deliver
from ._exceptions import BusClosed, BusFull
from ._fastpath import fast_publish_nowait, publish_each_nowait
from ._groups import GroupPublishing
from ._message import Headers
from ._routing import Route, Router
from ._statistics import BusStatistics, Overflow
from ._subscription import Subscription
from ._topics import compile_patterns
from ._waiting import flush, wait_stored, waited_on_routes

__all__ = ["BusStatistics", "EventBus"]


class EventBus(GroupPublishing):
    """Routes msgspec-encodable events by topic to bounded, per-subscriber buffers.

    Use as ``async with EventBus() as bus``. Publishing is a synchronous append
    (:meth:`publish_nowait`); :meth:`publish` waits for room instead of raising;
    :meth:`publish_many` publishes several events atomically (all or none).

    A bus is not thread-safe: it belongs to the thread running its event loop (before
    it is entered, to the thread that made it). Its ``publish*`` methods called from
    another thread raise :class:`EventBusError` (nothing is delivered); other threads
    publish with :meth:`publish_threadsafe`.

    :param admit: called with every event before it is published: it raises to refuse
        the event and returns the event's own topic (one call does both, because this
        is the hot path). Without it, the topic is ``event.topic`` and nothing is checked.
    :param encode: turns an event into bytes (default: msgpack), when a subscriber
        first asks for ``Message.data``.
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
        self._router = Router(admit=admit, encode=encode, decoder=decoder, on_unrouted=on_unrouted)
        self._names = 0
        self._entered = False
        self._token: EventLoopToken | None = None
        self._task_group: TaskGroup | None = None
        # The tick hot path: publish_nowait as a closure over what it needs saves
        # its attribute lookups and the closed check (a closed bus caches no routes,
        # so its publishes take the slow path, which raises BusClosed).
        fast, self._set_owner = fast_publish_nowait(self._router, self._publish_slow, admit)
        fast.__doc__ = EventBus.publish_nowait.__doc__
        self.publish_nowait = fast  # type: ignore[method-assign]

    @property
    def decoder(self) -> Callable[[bytes], Any] | None:
        """What decodes the messages that arrive encoded (None: msgpack)."""
        return self._router.decoder

    # -------------------------------------------------------------------- context

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("an EventBus can be entered only once")
        self._entered = True
        self._token = current_token()
        router = self._router
        router.running = True
        self._set_owner(router.take_over())
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
        router = self._router
        if router.closed:
            return
        router.closed = True
        router.forget_routes()
        for subscription in router.subscriptions:
            subscription.inbox.close_bus()

    @property
    def closed(self) -> bool:
        return self._router.closed

    # --------------------------------------------------------------- subscribing

    def subscribe(
        self,
        pattern: str | Iterable[str],
        *,
        max_buffer: int = 100_000,
        overflow: Overflow = "block",
        durable: bool = False,
        name: str | None = None,
        echo: bool = True,
    ) -> Subscription:
        """Subscribe to the topics matching ``pattern`` (or any of a list of patterns).

        ``*`` matches one token, ``>`` one or more trailing tokens. ``overflow="block"``
        applies backpressure to publishers when ``max_buffer`` messages wait;
        ``"drop_oldest"`` never blocks and counts what it drops.

        :param durable: the subscription's acknowledgement means the message is stored
            (a writer acknowledges after its commit): :meth:`flush` and
            ``publish(..., wait=True)`` wait for the durable subscriptions only, and
            one that closes unacknowledged makes them raise :class:`BusClosed`.
        :param echo: with ``False``, the messages published with
            ``headers=Headers(origin=name)`` (this subscription's name) are not
            delivered to it: a service that publishes to topics it also consumes then
            neither receives its own output nor waits for room it must make itself.
        :raises BusClosed: if the bus is closed.
        """
        router = self._router
        if router.closed:
            raise BusClosed("cannot subscribe: the bus is closed")
        patterns = compile_patterns(pattern)
        self._names += 1
        subscription = Subscription(
            name=name or f"sub-{self._names}",
            patterns=patterns,
            max_buffer=max_buffer,
            overflow=overflow,
            durable=durable,
            echo=echo,
            ledger=router.ledger,
            on_close=self._forget,
        )
        router.subscriptions.append(subscription)
        router.forget_routes()
        return subscription

    def _forget(
        self, subscription: Subscription, unacknowledged: float, error: BaseException | None
    ) -> None:
        router = self._router
        if subscription in router.subscriptions:
            router.subscriptions.remove(subscription)
            router.forget_routes()
        if subscription.durable and (unacknowledged < math.inf or error is not None):
            # A failed consumer abandons what it held, or else what comes next.
            first = unacknowledged if unacknowledged < math.inf else router.seq + 1
            router.ledger.abandon(subscription.name, subscription.patterns, first, error)

    # ---------------------------------------------------------------- publishing

    def _route(self, event: Any, topic: str | None, method: str) -> tuple[str, Route]:
        router = self._router
        router.check_thread(method)
        if router.closed:
            raise router.ledger.closed_error()
        topic = router.topic_of(event, topic)
        return topic, router.route(topic)

    def publish_nowait(
        self, event: Any, topic: str | None = None, *, headers: Headers | None = None
    ) -> int:
        """Check (with the ``admit`` hook, if any) and append ``event`` to every
        matching subscription (encoded only when a subscriber asks for ``data``).

        Returns the message's bus-wide sequence number. What the ``admit`` and
        ``on_unrouted`` hooks raise (in a node: ``InvalidEvent``, ``NoRoute``) reaches
        the caller, and nothing is delivered. ``headers`` travel with the message
        (``Message.headers``).

        :raises EventBusError: if ``topic`` is None and the event has none of its own,
            or, on a bus with an ``admit`` hook, if ``topic`` is not the event's own; or
            if called from a thread the bus does not belong to (use
            :meth:`publish_threadsafe` there).
        :raises ValueError: if ``topic`` is not a valid topic.
        :raises BusFull: if a matching ``block`` subscription is full (nothing delivered).
        :raises BusClosed: if the bus is closed (a bus with an ``admit`` hook checks
            the event first, so an invalid one raises the hook's error instead).
        """
        # Every bus replaces this method by the closure of fast_publish_nowait.
        topic, route = self._route(event, topic, "publish_nowait")
        return deliver(self._router, topic, event, route, headers)

    def publish_each_nowait(self, events: Sequence[Any]) -> int:
        """Publish each of ``events`` in order, as that many :meth:`publish_nowait`
        calls would (a message each, consecutive seqs, no headers), until one meets a
        full buffer; return how many were published.

        Cheaper than the calls for many events of one topic (a feed's ticks): every
        event is admitted first, then their messages are appended together. If the
        return is short of ``len(events)``, the event at that index met a full
        buffer: publish it with :meth:`publish` (which waits for room), then the rest.

        Raises what :meth:`publish_nowait` raises, except :class:`BusFull`; an event
        that the ``admit`` hook refuses raises its error before any is published.
        """
        return publish_each_nowait(self._router, self._publish_slow, events)

    def _publish_slow(self, event: Any, topic: str, headers: Headers | None) -> int:
        """Deliver what the fast path does not (the event is admitted already)."""
        router = self._router
        if router.closed:
            raise router.ledger.closed_error()
        return deliver(router, topic, event, router.route(topic), headers)

    async def publish(
        self,
        event: Any,
        topic: str | None = None,
        *,
        headers: Headers | None = None,
        wait: bool = False,
    ) -> int:
        """Publish ``event``, waiting for room in full subscriptions (backpressure).

        With ``wait=True``, return only once the message is acknowledged: by the
        durable subscriptions that received it (it is stored), or, if none did, by
        every subscription that received it.

        Raises what :meth:`publish_nowait` raises, except :class:`BusFull`, and:

        :raises BusClosed: if the bus is closed, or closes while this waits for room;
            with ``wait=True``, if a durable subscription that received the message
            closed (its consumer failed: the cause) before acknowledging it.
        :raises NotStored: with ``wait=True``, if the message was acknowledged as not
            stored (for a writer: it went to dead_letters).
        """
        await checkpoint()
        topic, route = self._route(event, topic, "publish")
        return await self._deliver_waiting(topic, event, route, headers, wait)

    async def _deliver_waiting(
        self,
        topic: str,
        payload: Any,
        route: Route,
        headers: Headers | None,
        wait: bool,
        foreign: bool = False,
    ) -> int:
        router = self._router
        while True:
            try:
                seq = deliver(router, topic, payload, route, headers, foreign)
                break
            except BusFull as exc:
                if (full := exc.subscription) is not None:  # raised here: never None
                    await full.inbox.wait_room()
                if router.closed:
                    closed = router.ledger.closed_error()
                    raise closed from closed.__cause__
                # Subscriptions may have come or gone while we waited.
                route = router.route(topic)
        if wait:
            origin = None if headers is None else headers.origin
            subscriptions = waited_on_routes([route.recipients(origin)])
            await wait_stored(router.ledger, [seq], subscriptions)
        return seq

    def publish_encoded_nowait(
        self, data: bytes, topic: str, *, headers: Headers | None = None
    ) -> int:
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
        data, route = self._route_encoded(data, topic, "publish_encoded_nowait")
        return deliver(self._router, topic, data, route, headers, foreign=True)

    def _route_encoded(self, data: bytes, topic: str, method: str) -> tuple[bytes, Route]:
        router = self._router
        router.check_thread(method)
        if router.closed:
            raise router.ledger.closed_error()
        data = bytes(data)
        router.check_encoded(data, topic)
        return data, router.route(topic)

    async def publish_encoded(
        self, data: bytes, topic: str, *, headers: Headers | None = None, wait: bool = False
    ) -> int:
        """Like :meth:`publish_encoded_nowait`, waiting for room instead of raising;
        ``wait`` as for :meth:`publish`."""
        await checkpoint()
        data, route = self._route_encoded(data, topic, "publish_encoded")
        return await self._deliver_waiting(topic, data, route, headers, wait, foreign=True)

    # -------------------------------------------------------------------- threads

    def publish_threadsafe(
        self,
        event: Any,
        topic: str | None = None,
        *,
        headers: Headers | None = None,
        wait: bool = False,
    ) -> int:
        """Publish from a thread that is not the bus's event loop thread.

        Blocks the calling thread until there is room (it never drops), and with
        ``wait=True`` until the message is acknowledged (see :meth:`publish`).

        :raises BusClosed: if the bus is closed (or its event loop has finished).
        :raises RuntimeError: if called from the event loop thread itself.
        """
        if self._token is None:
            raise BusClosed("the bus is not running: enter it with 'async with' first")
        if self._router.owns():
            raise RuntimeError("publish_threadsafe() called from the event loop: use publish()")
        if self._router.closed:
            raise self._router.ledger.closed_error()
        try:
            return anyio.from_thread.run(
                lambda: self.publish(event, topic, headers=headers, wait=wait),
                token=self._token,
            )
        except anyio.RunFinishedError:
            raise BusClosed("cannot publish: the bus's event loop has finished") from None

    async def flush(self, seq: int | None = None) -> None:
        """Return when every message published before the call (or up to ``seq``) is
        acknowledged.

        When the bus has durable subscriptions (writers), only they are waited for:
        their acknowledgement means stored, so a flush means "stored", and a slow
        in-process reader must not hold it. Otherwise every subscription that received
        a message waits for it. Closed subscriptions and messages dropped by
        ``drop_oldest`` do not hold a flush.

        :raises BusClosed: if a durable subscription closed (its consumer failed: the
            cause) before acknowledging one of those messages: they are not stored.
        :raises NotStored: if one of those messages was acknowledged as not stored
            (for a writer: it went to dead_letters) and no publisher waiting for it was
            told; each such message is reported once, to one flush.
        """
        await flush(self._router, seq)

    # ---------------------------------------------------------------- inspection

    @property
    def published(self) -> int:
        """How many messages were published (the last sequence number)."""
        return self._router.seq

    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._router.subscriptions)

    def statistics(self) -> BusStatistics:
        """Return the published count and every subscription's counters."""
        router = self._router
        return BusStatistics(
            published=router.seq,
            subscriptions=tuple(s.statistics() for s in router.subscriptions),
        )
