"""The forwarder: chosen topics of a node's bus, published to JetStream.

A durable subscription takes the messages (so ``publish(wait=True)`` and ``flush()``
on the node return only once JetStream has them). Each goes to a lane, by its topic:
a lane publishes one NATS message at a time and waits for JetStream's
acknowledgement before the next (retrying the same message, with the same
``Nats-Msg-Id``, for as long as it takes), so the messages of one topic are stored in
their order, and a lane's message N+1 is stored only after its message N. Events
without an ``event_id`` (ticks, candles, tick imports) of the same subject waiting
in a lane go as one NATS message (a batch, in their order: see :mod:`._batch`); an
event with an ``event_id`` is a message of its own (its ``Nats-Msg-Id``), and no
batch of its subject passes over it. Many lanes publish at once; the bus is acknowledged in its own
order, up to the oldest event not yet stored.
At most ``max_in_flight`` messages are taken and not yet stored: beyond that the
subscription's buffer fills and the node's publishers wait (backpressure).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.js import JetStreamContext

from eventbus import BusClosed, Message, Subscription
from writers import DatabaseSpec

from .._node import Node
from ._connect import connect, ensure_stream
from ._consume_names import BRIDGE_ORIGIN
from ._errors import BridgeOptionError
from ._forward_lanes import Lanes
from ._forward_publish import Publisher
from ._forward_stats import ForwarderStatistics
from ._forward_window import Item, Window
from ._names import TopicHomes, check_prefix, stream_name, subject_of
from ._options import check_name, check_number, check_topics, check_url, overlapping

__all__ = ["JetStreamForwarder"]

logger = logging.getLogger("tradebus")


class JetStreamForwarder:
    """Forwards ``topics`` of ``node``'s bus to JetStream at ``url``; see the module.

    ``async with JetStreamForwarder(node, url, topics=["market.tick.>"]) as fwd:``.
    The stream of each database is ``TRADEBUS_<DATABASE>`` (with a ``prefix``,
    ``TRADEBUS_<PREFIX>_<DATABASE>`` and subjects ``<prefix>.<topic>``), created if
    missing, with ``duplicate_window`` seconds of de-duplication.

    :param topics: topic patterns to forward (default: every database's topics).
    :param lanes: how many publishes are awaited at once (one per lane).
    :param max_in_flight: how many messages may be taken and not yet stored.
    :param publish_timeout: how long one publish waits for its acknowledgement
        before it is tried again (seconds).
    :param connect_timeout: how long the first connection is tried (seconds).
    :param drain_timeout: on exit, how long to wait for what is in flight (seconds).
    :param name: names this forwarder's origin on NATS (``<name>.<random>``).
    """

    def __init__(
        self,
        node: Node,
        url: str,
        *,
        topics: Iterable[str] | None = None,
        prefix: str = "",
        lanes: int = 32,
        max_in_flight: int = 4096,
        duplicate_window: float = 120.0,
        publish_timeout: float = 2.0,
        connect_timeout: float = 30.0,
        drain_timeout: float = 30.0,
        name: str = "fwd",
    ) -> None:
        check_url(url)
        self.node = node
        self.url = url
        self.prefix = check_prefix(prefix)
        databases = node.topology.databases
        default = [p for spec in databases for p in spec.topics]
        self.topics = check_topics(default if topics is None else topics)
        self.lanes = check_number("lanes", lanes, 1, 1024)
        self.max_in_flight = check_number("max_in_flight", max_in_flight, 1, 1_000_000)
        self.duplicate_window = check_number("duplicate_window", duplicate_window, 0.1, 1e7)
        self.publish_timeout = check_number("publish_timeout", publish_timeout, 0.01, 3600)
        self.connect_timeout = check_number("connect_timeout", connect_timeout, 0.0, 1e6)
        self.drain_timeout = check_number("drain_timeout", drain_timeout, 0.0, 1e6)
        self.origin = f"{check_name('name', name)}.{secrets.token_hex(6)}"
        #: The databases some chosen topic may belong to: each gets its stream.
        self.databases: tuple[DatabaseSpec, ...] = tuple(
            spec for spec in databases if overlapping(self.topics, spec.topics)
        )
        if not self.databases:
            raise BridgeOptionError(
                "topics", list(self.topics), "patterns matching some database's topics "
                f"({', '.join(p for spec in databases for p in spec.topics)})"
            )  # fmt: skip
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscription: Subscription | None = None
        self._task_group: TaskGroup | None = None
        self._window = Window()
        self._queues = Lanes(self.lanes, self.origin)
        self._publisher = Publisher(
            self.origin, self.publish_timeout, self._ensure_streams, self._window
        )
        self._homes = TopicHomes(self.databases)
        self._entered = False
        self._stop_taking = False
        #: Messages taken; of them, the ones brought by the bridge, and those that
        #: belong to no database forwarded (the publisher counts its own failures).
        self._forwarded = self._skipped = self._failed = 0

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a JetStreamForwarder can be entered only once")
        self._entered = True
        client = await connect(self.url, timeout=self.connect_timeout, name=self.origin)
        self._client = client
        self._js = client.jetstream(timeout=self.publish_timeout)
        try:
            await self._ensure_streams()
            self._subscription = self.node.bus.subscribe(
                list(self.topics),
                durable=True,
                name=f"bridge-forward-{self.origin}",
                max_buffer=min(self.max_in_flight, 100_000),
            )
            self._task_group = anyio.create_task_group()
            await self._task_group.__aenter__()
        except BaseException:
            if self._subscription is not None:
                self._subscription.close()
            await client.close()
            raise
        self._task_group.start_soon(self._take_forever)
        for lane in range(self.lanes):
            self._task_group.start_soon(self._lane_forever, lane)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, subscription = self._task_group, self._subscription
        assert task_group is not None
        assert subscription is not None
        try:
            if exc is None:  # drain: what was taken, and what waits to be, goes first
                with anyio.move_on_after(self.drain_timeout, shield=True):
                    while self._window or subscription.statistics().buffered:
                        await self._window.wait_for_empty(0.05)  # buffered: the taker goes on
                self._stop_taking = True
                if self._window or subscription.statistics().buffered:
                    logger.warning(
                        "bridge forwarder %s: %d message(s) not stored by JetStream after "
                        "%g s: their publishers are told they are not stored",
                        self.origin,
                        len(self._window) + subscription.statistics().buffered,
                        self.drain_timeout,
                    )  # fmt: skip
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            subscription.close()
            with anyio.CancelScope(shield=True):
                client = self._client
                if client is not None:
                    try:
                        await client.close()
                    except Exception as close_error:
                        logger.debug("bridge forwarder: closing NATS: %s", close_error)

    async def _ensure_streams(self) -> None:
        client = self._client
        assert client is not None
        js = client.jetstream(timeout=max(self.publish_timeout, 5.0))
        for spec in self.databases:
            subjects = [subject_of(p, self.prefix) for p in spec.topics]
            await ensure_stream(
                js, stream_name(spec.name, self.prefix), subjects, self.duplicate_window
            )

    # ------------------------------------------------------------------ taking

    async def _take_forever(self) -> None:
        subscription = self._subscription
        assert subscription is not None
        while not self._stop_taking:
            room = self.max_in_flight - len(self._window)
            if room <= 0:
                await self._window.wait_for_room()
                continue
            try:
                batch = await subscription.receive_batch(min(room, 1_000), max_wait=0.002)
            except BusClosed:
                return
            for message in batch:
                self._take(message)
            self._advance()

    def _take(self, message: Message[Any]) -> None:
        headers = message.headers
        item = Item(message.seq, "", b"", None)
        self._window.append(item)
        self._forwarded += 1
        if headers is not None and headers.origin.startswith(BRIDGE_ORIGIN):
            item.done = True  # the bridge brought it from NATS: not sent back
            self._skipped += 1
            return
        topic = message.topic
        home = self._homes(topic)
        if home is None:
            item.done = True
            item.failed = f"topic {topic!r} belongs to no database the bridge forwards"
            self._failed += 1
            return
        event_id = getattr(message.event, "event_id", None)
        item.subject = subject_of(topic, self.prefix)
        item.data = message.data
        item.event_id = event_id if isinstance(event_id, str) and event_id else None
        self._queues.put(topic, item)

    def _advance(self) -> None:
        """Acknowledge on the bus the oldest messages that are done."""
        subscription = self._subscription
        assert subscription is not None
        self._window.advance(subscription)

    # ------------------------------------------------------------------ lanes

    async def _lane_forever(self, lane: int) -> None:
        queues, publisher = self._queues, self._publisher
        js = self._js
        assert js is not None
        while True:
            await queues.wait(lane)
            client = self._client
            max_payload = client.max_payload if client is not None else 0
            # out of the queue; in the window still
            outgoing = queues.next_message(lane, max_payload)
            await publisher.publish(js, outgoing)
            for item in outgoing.items:
                item.done = True
            self._advance()

    # ---------------------------------------------------------------- reporting

    def statistics(self) -> ForwarderStatistics:
        return ForwarderStatistics(
            origin=self.origin,
            forwarded=self._forwarded,
            acked=self._publisher.acked,
            duplicates=self._publisher.duplicates,
            in_flight=len(self._window),
            retries=self._publisher.retries,
            failed=self._failed + self._publisher.failed,
            skipped=self._skipped,
            published=self._publisher.messages,
        )
