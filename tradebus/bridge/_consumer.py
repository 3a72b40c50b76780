"""The consumer: a stream's messages, in batches, into a node's database, exactly once.

It pulls batches from a durable consumer and publishes each batch's events on the
node's bus with ``Headers(origin=nats:<stream>/<durable>, cursor=<stream sequence>)``,
so that the database's writer commits the cursor with the events (``relay_cursors``):
each message's events in a group of their own, so that an event the writer refuses
takes no other message's events to dead_letters. Events that a forwarder lane
numbered (those without an ``event_id``: ticks) go in a group of their lane, whose
cursor is the lane's high-water mark. A message may carry many such events (a
forwarder's batch): they are checked one by one and go in one group, so the lane's
mark covers the message as a whole; a message at or below the mark is a copy,
skipped as a whole. A bad event of a batch is a dead letter alone, recorded after
the message's good events are committed: a copy delivered again whose bad events
were not recorded (a failure came between) has them recorded then (see
:mod:`._consume_dead`). Groups hold at most half the writer's ``max_buffer`` events.
A batch's JetStream messages are acknowledged (``ack_sync``, acknowledging all
before) once the events are committed. See the bridge's notes for why this stores
each event exactly once.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Self

import anyio
import nats.errors
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from writers import DatabaseSpec, PostgresWriter, WriterActor

from .._node import Node
from ._classify import classify
from ._connect import connect, ensure_stream
from ._consume_acks import Acknowledger, Entry
from ._consume_database import consumed_database
from ._consume_dead import DeadLetters
from ._consume_gaps import Gaps
from ._consume_names import consumer_origin
from ._consume_publish import BusPublisher, Segment
from ._consume_stats import ConsumerStatistics
from ._consumer_start import read_cursors, recreate_consumer
from ._errors import BridgeError, BridgeOptionError
from ._names import TopicHomes, check_prefix, check_stream, stream_name, subject_of
from ._options import check_number, check_url
from ._retry import RETRYABLE, Backoff

__all__ = ["JetStreamConsumer"]

logger = logging.getLogger("tradebus")


class JetStreamConsumer:
    """Consumes ``stream`` (default ``TRADEBUS_<DATABASE>``) into ``database`` of
    ``node`` (which must host its writer); see the module.

    :param database: the database the stream holds (default: the one the stream's
        name ends with, else the node's only database).
    :param durable: the durable consumer's name (one consumer process per name).
    :param batch: the most messages fetched at once.
    :param batches_in_flight: how many fetched batches may wait for their commit.
    :param ack_wait: how long JetStream waits for an acknowledgement before it
        delivers a message again (seconds).
    """

    def __init__(
        self,
        node: Node,
        url: str,
        *,
        database: str | None = None,
        stream: str | None = None,
        durable: str = "tradebus",
        prefix: str = "",
        batch: int = 500,
        batches_in_flight: int = 4,
        ack_wait: float = 30.0,
        fetch_wait: float = 0.5,
        connect_timeout: float = 30.0,
        drain_timeout: float = 30.0,
        duplicate_window: float = 120.0,
    ) -> None:
        check_url(url)
        self.node, self.url = node, url
        self.prefix = check_prefix(prefix)
        self.spec: DatabaseSpec = consumed_database(node, database, stream, self.prefix)
        self.stream = check_stream(
            "stream", stream if stream is not None else stream_name(self.spec.name, self.prefix)
        )
        self.durable = check_stream("durable", durable)
        self.batch = check_number("batch", batch, 1, 10_000)
        self.batches_in_flight = check_number("batches_in_flight", batches_in_flight, 1, 64)
        self.ack_wait = check_number("ack_wait", ack_wait, 1.0, 86_400.0)
        self.fetch_wait = check_number("fetch_wait", fetch_wait, 0.01, 60.0)
        self.connect_timeout = check_number("connect_timeout", connect_timeout, 0.0, 1e6)
        self.drain_timeout = check_number("drain_timeout", drain_timeout, 0.0, 1e6)
        self.duplicate_window = check_number("duplicate_window", duplicate_window, 0.1, 1e7)
        # AccessDenied if not hosted; the database in SQLite or in PostgreSQL
        self.writer: WriterActor | PostgresWriter = node.store_writer(self.spec.name)
        if self.batch > self.writer.max_buffer // 2:  # a batch goes on the bus in groups
            raise BridgeOptionError(
                "batch", batch, f"at most half the writer's max_buffer ({self.writer.max_buffer})"
            )
        self.origin = consumer_origin(self.stream, self.durable)
        #: Publishes at most half the writer's max_buffer events at once (a batch of
        #: messages may carry many events each: its groups must fit the writer's buffer).
        self._publisher = BusPublisher(
            node.bus, self.stream, self.durable, group_limit=self.writer.max_buffer // 2
        )
        self._dead = DeadLetters(node.bus, self.writer, self.origin)
        self._gaps = Gaps(self.stream, self.durable, self.origin)
        self._acks = Acknowledger(node.bus, self.origin)
        self._homes = TopicHomes(node.topology.databases)
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._task_group: TaskGroup | None = None
        self._started_at = 0
        self._duplicates = self._redelivered = 0
        self._lag = self._restarts = 0
        self._entered = False
        self._stopping = False
        self._send: MemoryObjectSendStream[Entry] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a JetStreamConsumer can be entered only once")
        self._entered = True
        cursors = await read_cursors(
            self.writer, self.node.path(self.spec), self.stream, self.durable
        )
        self._publisher.marks = cursors.lanes
        self._dead.start(cursors.lanes)
        client = await connect(self.url, timeout=self.connect_timeout, name=self.origin)
        self._client = client
        try:
            self._js = client.jetstream(timeout=10.0)
            subjects = [subject_of(p, self.prefix) for p in self.spec.topics]
            await ensure_stream(self._js, self.stream, subjects, self.duplicate_window)
            await self._start(cursors.stream, hint=True)
            self._task_group = anyio.create_task_group()
            await self._task_group.__aenter__()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await client.close()
            raise
        send, receive = anyio.create_memory_object_stream[Entry](self.batches_in_flight)
        self._send = send
        self._task_group.start_soon(self._fetch_forever, send)
        self._task_group.start_soon(self._acks.run, receive)
        return self

    async def _start(self, after: int, *, hint: bool) -> None:
        """(Re)make the durable consumer after stream sequence ``after``."""
        js = self._js
        assert js is not None
        if self._subscription is not None:
            with contextlib.suppress(*RETRYABLE):
                await self._subscription.unsubscribe()
            self._subscription = None
        acks = self._acks
        acks.handed = self._started_at = await recreate_consumer(
            js, self.stream, self.durable, after,
            ack_wait=self.ack_wait,
            max_ack_pending=self.batch * (self.batches_in_flight + 2),
            hint=hint,
        )  # fmt: skip
        acks.acked = max(acks.acked, acks.handed)
        self._subscription = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._restarts += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        assert task_group is not None
        try:
            if exc is None:  # drain: what was handed to the bus is acknowledged first
                self._stopping = True
                await self._acks.drain(self.drain_timeout)
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                client = self._client
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()

    # ------------------------------------------------------------------ fetching

    async def _fetch_forever(self, send: MemoryObjectSendStream[Entry]) -> None:
        backoff = Backoff(0.05)
        failing = Backoff(0.05, most=5.0)  # between handings that fail (the database away)
        async with send:
            while not self._stopping:
                subscription = self._subscription
                assert subscription is not None
                try:
                    messages = await subscription.fetch(self.batch, timeout=self.fetch_wait)
                except nats.errors.TimeoutError:
                    continue
                except RETRYABLE as exc:
                    logger.debug("bridge consumer %s: fetching: %s", self.origin, exc)
                    await backoff.sleep()
                    continue
                backoff.reset()
                if self._stopping:
                    return  # not handed: delivered again to the next run
                if not messages:  # a fetch may end with none (the server went away)
                    continue
                try:
                    await self._handle(messages, send)
                except (*RETRYABLE, BridgeError) as exc:
                    # Asking the server failed (it went away), or the database did:
                    # start again after what was handed, once it answers.
                    logger.warning("bridge consumer %s: %s; starting again", self.origin, exc)
                    await failing.sleep()
                    await self._start_again()
                else:
                    failing.reset()

    async def _start_again(self) -> None:
        """Make the consumer again after what was handed, until the server lets us."""
        backoff = Backoff(0.1)
        while True:
            try:
                await self._start(self._acks.handed, hint=False)
                return
            except (*RETRYABLE, BridgeError) as exc:
                logger.debug("bridge consumer %s: %s", self.origin, exc)
                await backoff.sleep()

    async def _handle(
        self, messages: list[Msg], send: MemoryObjectSendStream[Entry], *, acknowledge: bool = True
    ) -> None:
        """Hand ``messages`` on (``acknowledge``: the last is acknowledged once they
        are committed; not for one read from the stream directly)."""
        messages = sorted(messages, key=_stream_seq)
        self._lag = messages[-1].metadata.num_pending
        acks, publisher = self._acks, self._publisher
        limit = publisher.group_limit
        segment = Segment(publisher, acks)  # moves acks.handed as it publishes
        top: Msg | None = messages[-1] if acknowledge else None
        for message in messages:
            seq = _stream_seq(message)
            if seq <= segment.taken:
                self._redelivered += 1
                continue
            missing = await self._missed(segment.taken, seq) if seq > segment.taken + 1 else None
            if missing is not None:
                # An earlier delivery was lost: start again after what was handed (the
                # rest of this batch comes again, from the new consumer).
                await segment.publish()
                await self._not_delivered(missing, send)
                await self._start(acks.handed, hint=False)
                top = None  # the old consumer is gone: nothing of it to acknowledge
                break
            self._gaps.misses = 0
            verdict = classify(
                message.subject, message.data, message.headers,
                prefix=self.prefix, spec=self.spec, homes=self._homes,
            )  # fmt: skip
            items, reason = verdict.items, verdict.reason
            bad = [(item.data, why) for item in items if (why := item.reason) is not None]
            lane = verdict.lane
            if reason is None and lane is not None and lane[1] <= segment.mark(lane[0]):
                # A copy: skipped as a whole, but for bad events whose recording a
                # failure after its good events were committed left owed.
                self._duplicates += len(items)
                if bad and self._dead.owed(lane):
                    await segment.publish()
                    await self._dead_letter(message.subject, seq, bad, lane)
                segment.pass_over(seq)
                continue
            good = [item.event for item in items if item.event is not None]
            if reason is None and len(good) > limit:
                reason = (
                    f"it holds {len(good)} events, more than the writer of {self.spec.name!r} "
                    f"takes at once (half its max_buffer, {limit}): raise max_buffer"
                )  # fmt: skip
            if reason is not None:  # the whole message is a dead letter
                await segment.publish()
                await self._dead_letter(message.subject, seq, [(message.data, reason)])
                segment.pass_over(seq)
                continue
            if good:
                await segment.add(lane, good, seq)
            if bad:  # after the message's good events are committed: see _dead_letter
                # Handed on once they are recorded: a failure before delivers the
                # message again, a copy whose bad events are owed.
                await segment.publish(holding=seq if good and lane is not None else 0)
                await self._dead_letter(message.subject, seq, bad, lane)
            if bad or not good:
                segment.pass_over(seq)
        else:
            await segment.publish()
        await send.send((publisher.last_bus_seq, acks.handed, top))

    async def _not_delivered(self, missing: int, send: MemoryObjectSendStream[Entry]) -> None:
        """A message that exists was not delivered (see :meth:`Gaps.not_delivered`):
        one the server will not deliver is taken like a delivered one (stored, or a
        dead letter), and the consumer goes on after it."""
        js, client = self._js, self._client
        assert js is not None
        assert client is not None
        direct = await self._gaps.not_delivered(js, client, missing)
        if direct is None:
            return
        if not direct.subject:  # unreadable: a dead letter in its place
            reason = "a message the server cannot deliver"
            await self._dead_letter("", missing, [(direct.data, reason)])
            self._acks.handed = max(self._acks.handed, missing)
            return
        await self._handle([direct], send, acknowledge=False)

    async def _missed(self, taken: int, seq: int) -> int | None:
        """The first message between the last ``taken`` and ``seq`` that exists (see
        :meth:`Gaps.first_missing`); None if there is none."""
        js = self._js
        assert js is not None
        return await self._gaps.first_missing(js, taken, seq)

    async def _dead_letter(
        self,
        subject: str,
        seq: int,
        bad: list[tuple[bytes, str]],
        lane: tuple[str, int] | None = None,
    ) -> None:
        """Commit ``bad`` to dead_letters with the stream cursor ``seq``, once what was
        published before is committed (see :meth:`DeadLetters.record`); ``lane``:
        the forwarder lane and number of the message."""
        await self._dead.record(subject, seq, bad, after=self._publisher.last_bus_seq, lane=lane)

    # ---------------------------------------------------------------- reporting

    def statistics(self) -> ConsumerStatistics:
        return ConsumerStatistics(
            stream=self.stream,
            durable=self.durable,
            database=self.spec.name,
            started_at=self._started_at,
            handed=self._acks.handed,
            acked=self._acks.acked,
            consumed=self._publisher.consumed,
            duplicates=self._duplicates,
            redelivered=self._redelivered,
            dead_lettered=self._dead.count,
            lag=self._lag,
            restarts=self._restarts,
        )


def _stream_seq(message: Msg) -> int:
    seq: int = message.metadata.sequence.stream
    return seq
