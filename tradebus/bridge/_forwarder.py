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
import time
import zlib
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import nats.errors
import nats.js.errors
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.js import JetStreamContext

from eventbus import BusClosed, Message, Subscription
from writers import DatabaseSpec

from .._node import Node
from ._batch import BATCH_OVERHEAD, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, pack_batch
from ._connect import connect, ensure_stream
from ._consume_names import BRIDGE_ORIGIN
from ._errors import BridgeError, BridgeOptionError
from ._forward_stats import ForwarderStatistics
from ._names import BATCH, MSG_ID, ORIGIN, SEQ, TopicHomes, check_prefix, stream_name, subject_of
from ._options import check_name, check_number, check_topics, check_url, overlapping

__all__ = ["JetStreamForwarder"]

logger = logging.getLogger("tradebus")

#: Pause before the first retry of a publish, and the longest (seconds).
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0
#: How many events of other subjects a lane passes over when it gathers a batch.
MAX_PASSED = 4096
_RETRYABLE = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


class _Item:
    """One bus message on its way: its subject, bytes and ``event_id``, and how it
    ended."""

    __slots__ = ("data", "done", "event_id", "failed", "seq", "subject")

    def __init__(self, seq: int, subject: str, data: bytes, event_id: str | None) -> None:
        self.seq = seq
        self.subject = subject
        self.data = data
        self.event_id = event_id
        self.done = False
        self.failed: str | None = None


class _Outgoing(NamedTuple):
    """One NATS message of a lane: the bus messages it carries, its payload and
    headers (fixed once made: a retry sends the very same message)."""

    items: list[_Item]
    subject: str
    payload: bytes
    headers: dict[str, str]


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
        self._window: deque[_Item] = deque()
        self._queues: list[deque[_Item]] = [deque() for _ in range(self.lanes)]
        self._wake: list[anyio.Event] = [anyio.Event() for _ in range(self.lanes)]
        self._lane_seq = [0] * self.lanes
        self._room = anyio.Event()
        self._empty = anyio.Event()
        self._homes = TopicHomes(self.databases)
        self._entered = False
        self._stop_taking = False
        self._forwarded = self._acked = self._duplicates = 0
        self._retries = self._failed = self._skipped = self._messages = 0
        self._logged_at = 0.0

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
                        self._empty = anyio.Event()
                        with anyio.move_on_after(0.05):  # buffered: the taker goes on
                            await self._empty.wait()
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
                self._room = anyio.Event()
                await self._room.wait()
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
        item = _Item(message.seq, "", b"", None)
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
        lane = zlib.crc32(topic.encode()) % self.lanes
        event_id = getattr(message.event, "event_id", None)
        item.subject = subject_of(topic, self.prefix)
        item.data = message.data
        item.event_id = event_id if isinstance(event_id, str) and event_id else None
        self._queues[lane].append(item)
        self._wake[lane].set()

    def _advance(self) -> None:
        """Acknowledge on the bus the oldest messages that are done."""
        window = self._window
        count = 0
        failed: dict[int, str] = {}
        for item in window:
            if not item.done:
                break
            if item.failed is not None:
                failed[item.seq] = item.failed
            count += 1
        if not count:
            return
        for _ in range(count):
            window.popleft()
        subscription = self._subscription
        assert subscription is not None
        if not subscription.closed:
            subscription.ack(count, failed=failed or None)
        self._room.set()
        if not window:
            self._empty.set()

    # ------------------------------------------------------------------ lanes

    async def _lane_forever(self, lane: int) -> None:
        queue = self._queues[lane]
        while True:
            if not queue:
                self._wake[lane] = anyio.Event()
                await self._wake[lane].wait()
                continue
            outgoing = self._next_message(lane)  # out of the queue; in the window still
            await self._publish(outgoing)
            for item in outgoing.items:
                item.done = True
            self._advance()

    def _next_message(self, lane: int) -> _Outgoing:
        """The lane's next NATS message, taken out of its queue: its first waiting
        event, with, if it has no ``event_id``, the events without one of the same
        subject waiting after it (up to :data:`MAX_BATCH_EVENTS` events and about
        :data:`MAX_BATCH_BYTES`; stopping at an event of that subject with an
        ``event_id``). Events of other subjects it passes over keep their place: the
        order of each subject is kept (the order across subjects is not promised)."""
        queue = self._queues[lane]
        first = queue.popleft()
        items = [first]
        if first.event_id is not None or not queue:
            return self._message(lane, items)
        limit = self._batch_bytes()
        size = len(first.data)
        subject = first.subject
        passed: list[_Item] = []
        while queue and len(passed) < MAX_PASSED:
            item = queue[0]
            if item.subject != subject:
                passed.append(queue.popleft())
                continue
            if item.event_id is not None or len(items) >= MAX_BATCH_EVENTS:
                break
            size += len(item.data) + BATCH_OVERHEAD
            if size > limit:
                break
            items.append(queue.popleft())
        queue.extendleft(reversed(passed))
        return self._message(lane, items)

    def _message(self, lane: int, items: list[_Item]) -> _Outgoing:
        """``items`` as the lane's next message (numbered now: retries keep it)."""
        first = items[0]
        self._lane_seq[lane] += 1
        seq = self._lane_seq[lane]
        origin = f"{self.origin}.{lane}"
        headers = {
            MSG_ID: first.event_id or f"{origin}:{seq}",
            ORIGIN: origin,
            SEQ: str(seq),
        }
        if len(items) == 1:
            return _Outgoing(items, first.subject, first.data, headers)
        headers[BATCH] = str(len(items))
        return _Outgoing(items, first.subject, pack_batch([i.data for i in items]), headers)

    def _batch_bytes(self) -> int:
        """The most bytes of events a batch carries: :data:`MAX_BATCH_BYTES`, or half
        the server's max_payload if that is smaller."""
        client = self._client
        server_max = client.max_payload if client is not None else 0
        return min(MAX_BATCH_BYTES, server_max // 2) if server_max > 0 else MAX_BATCH_BYTES

    async def _publish(self, outgoing: _Outgoing) -> None:
        """Publish ``outgoing`` until JetStream acknowledges it (or it can never be)."""
        js = self._js
        assert js is not None
        pause = FIRST_PAUSE
        subject, payload, headers = outgoing.subject, outgoing.payload, outgoing.headers
        while True:
            try:
                ack = await js.publish(
                    subject, payload, timeout=self.publish_timeout, headers=headers
                )
            except nats.errors.MaxPayloadError as exc:
                for item in outgoing.items:
                    item.failed = f"not forwarded to NATS: {exc}"
                self._failed += len(outgoing.items)
                return
            except _RETRYABLE as exc:
                self._retries += 1
                self._log_retry(subject, exc)
                if isinstance(exc, nats.js.errors.NoStreamResponseError):
                    try:  # the server may have come back without its streams
                        await self._ensure_streams()
                    except (*_RETRYABLE, BridgeError) as again:
                        logger.debug("bridge forwarder: %s", again)
                await anyio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            self._acked += len(outgoing.items)
            self._messages += 1
            if ack.duplicate:
                self._duplicates += len(outgoing.items)
            return

    def _log_retry(self, subject: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged_at >= 5.0:
            self._logged_at = now
            logger.warning(
                "bridge forwarder %s: publishing to %s failed (%s: %s); trying again "
                "(%d in flight)",
                self.origin, subject, type(exc).__name__, exc, len(self._window),
            )  # fmt: skip

    # ---------------------------------------------------------------- reporting

    def statistics(self) -> ForwarderStatistics:
        return ForwarderStatistics(
            origin=self.origin,
            forwarded=self._forwarded,
            acked=self._acked,
            duplicates=self._duplicates,
            in_flight=len(self._window),
            retries=self._retries,
            failed=self._failed,
            skipped=self._skipped,
            published=self._messages,
        )
