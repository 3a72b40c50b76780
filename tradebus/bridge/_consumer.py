"""The consumer: a stream's messages, in batches, into a node's database, exactly once.

It pulls batches from a durable consumer and publishes each batch's events on the
node's bus with ``Headers(origin=nats:<stream>/<durable>, cursor=<stream sequence>)``,
so that the database's writer commits the cursor with the events (``relay_cursors``);
events that a forwarder lane numbered (those without an ``event_id``: ticks) go in a
group of their lane, whose cursor is the lane's high-water mark. A message may carry
many such events (a forwarder's batch): they are checked one by one (a bad one is a
dead letter alone, committed after the others) and go in one group, so the lane's
mark covers the message as a whole; a message at or below the mark is a copy,
skipped as a whole. Groups hold at most half the writer's ``max_buffer`` events.
A batch's JetStream messages are acknowledged (``ack_sync``, acknowledging all
before) once the events are committed. See the bridge's notes for why this stores
each event exactly once.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from types import TracebackType
from typing import Self

import anyio
import nats.errors
import nats.js.errors
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from eventbus import BusFull, Headers, Message, NotStored
from schemas import Event
from writers import DatabaseSpec, PostgresWriter, WriterActor

from .._node import Node
from ._classify import classify
from ._connect import connect, ensure_stream
from ._consume_names import consumer_origin, tick_origin
from ._consume_stats import ConsumerStatistics
from ._consumer_start import read_cursors, recreate_consumer
from ._errors import BridgeError, BridgeOptionError
from ._names import TopicHomes, check_prefix, check_stream, stream_name, subject_of
from ._options import check_number, check_url

__all__ = ["JetStreamConsumer"]

#: A batch to acknowledge: the bus seq to wait for, the stream seq handed, and the
#: message whose acknowledgement covers the batch (None: none to acknowledge).
_Entry = tuple[int, int, Msg | None]

logger = logging.getLogger("tradebus")
#: How many times in a row one message may be found not delivered before it is taken
#: for one the server never delivers (a dead letter).
_UNDELIVERABLE_AFTER = 3
_RETRYABLE = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


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
        self.spec: DatabaseSpec = _database(node, database, stream, self.prefix)
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
        #: The most events published on the bus at once (a batch of messages may
        #: carry many events each: its groups must fit the writer's buffer).
        self._group_limit = self.writer.max_buffer // 2
        self.origin = consumer_origin(self.stream, self.durable)
        self._homes = TopicHomes(node.topology.databases)
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._task_group: TaskGroup | None = None
        self._lanes: dict[str, int] = {}
        self._handed = self._started_at = self._acked = 0
        self._last_bus_seq = 0
        self._consumed = self._duplicates = self._redelivered = 0
        self._dead = self._lag = self._restarts = 0
        #: The message last found not delivered, and how many times in a row.
        self._missing = self._misses = 0
        self._entered = False
        self._stopping = False
        self._caught_up = anyio.Event()
        self._send: MemoryObjectSendStream[_Entry] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a JetStreamConsumer can be entered only once")
        self._entered = True
        cursors = await read_cursors(
            self.writer, self.node.path(self.spec), self.stream, self.durable
        )
        self._lanes = cursors.lanes
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
        send, receive = anyio.create_memory_object_stream[_Entry](self.batches_in_flight)
        self._send = send
        self._task_group.start_soon(self._fetch_forever, send)
        self._task_group.start_soon(self._ack_forever, receive)
        return self

    async def _start(self, after: int, *, hint: bool) -> None:
        """(Re)make the durable consumer after stream sequence ``after``."""
        js = self._js
        assert js is not None
        if self._subscription is not None:
            with contextlib.suppress(*_RETRYABLE):
                await self._subscription.unsubscribe()
            self._subscription = None
        self._handed = self._started_at = await recreate_consumer(
            js, self.stream, self.durable, after,
            ack_wait=self.ack_wait,
            max_ack_pending=self.batch * (self.batches_in_flight + 2),
            hint=hint,
        )  # fmt: skip
        self._acked = max(self._acked, self._handed)
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
                with anyio.move_on_after(self.drain_timeout, shield=True):
                    while self._acked < self._handed:
                        self._caught_up = anyio.Event()
                        await self._caught_up.wait()
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                client = self._client
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.close()

    # ------------------------------------------------------------------ fetching

    async def _fetch_forever(self, send: MemoryObjectSendStream[_Entry]) -> None:
        pause = 0.05
        async with send:
            while not self._stopping:
                subscription = self._subscription
                assert subscription is not None
                try:
                    messages = await subscription.fetch(self.batch, timeout=self.fetch_wait)
                except nats.errors.TimeoutError:
                    continue
                except _RETRYABLE as exc:
                    logger.debug("bridge consumer %s: fetching: %s", self.origin, exc)
                    await anyio.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                pause = 0.05
                if self._stopping:
                    return  # not handed: delivered again to the next run
                if not messages:  # a fetch may end with none (the server went away)
                    continue
                try:
                    await self._handle(messages, send)
                except (*_RETRYABLE, BridgeError) as exc:
                    # Asking the server failed (it went away): start again after what
                    # was handed, once it answers.
                    logger.warning("bridge consumer %s: %s; starting again", self.origin, exc)
                    await self._start_again()

    async def _start_again(self) -> None:
        """Make the consumer again after what was handed, until the server lets us."""
        pause = 0.1
        while True:
            try:
                await self._start(self._handed, hint=False)
                return
            except (*_RETRYABLE, BridgeError) as exc:
                logger.debug("bridge consumer %s: %s", self.origin, exc)
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def _handle(
        self, messages: list[Msg], send: MemoryObjectSendStream[_Entry], *, acknowledge: bool = True
    ) -> None:
        """Hand ``messages`` on (``acknowledge``: the last is acknowledged once they
        are committed; not for one read from the stream directly)."""
        messages = sorted(messages, key=_stream_seq)
        self._lag = messages[-1].metadata.num_pending
        lanes: dict[str, list[Event]] = {}
        others: list[Event] = []
        segment_end = 0
        top: Msg | None = messages[-1] if acknowledge else None
        for message in messages:
            seq = _stream_seq(message)
            if seq <= self._handed:
                self._redelivered += 1
                continue
            missing = await self._missed(seq) if seq > self._handed + 1 else None
            if missing is not None:
                # An earlier delivery was lost: start again after what was handed (the
                # rest of this batch comes again, from the new consumer).
                await self._publish(lanes, others, segment_end)
                await self._not_delivered(missing, send)
                await self._start(self._handed, hint=False)
                top = None  # the old consumer is gone: nothing of it to acknowledge
                break
            self._misses = 0
            self._handed = seq
            verdict = classify(
                message.subject, message.data, message.headers,
                prefix=self.prefix, spec=self.spec, homes=self._homes,
            )  # fmt: skip
            items, reason = verdict.items, verdict.reason
            if reason is None and verdict.lane is not None:
                origin, number = verdict.lane
                if number <= self._lanes.get(origin, 0):  # a copy: skipped as a whole
                    self._duplicates += len(items)
                    continue
            good = [item.event for item in items if item.event is not None]
            if reason is None and len(good) > self._group_limit:
                reason = (
                    f"it holds {len(good)} events, more than the writer of {self.spec.name!r} "
                    f"takes at once (half its max_buffer, {self._group_limit}): raise max_buffer"
                )  # fmt: skip
            if reason is not None:  # the whole message is a dead letter
                await self._publish(lanes, others, segment_end)
                lanes, others, segment_end = {}, [], 0
                await self._dead_letter(message.subject, seq, [(message.data, reason)])
                continue
            if good:
                if sum(map(len, lanes.values())) + len(others) + len(good) > self._group_limit:
                    await self._publish(lanes, others, segment_end)  # groups fit the buffer
                    lanes, others = {}, []
                if verdict.lane is not None:
                    origin, number = verdict.lane
                    self._lanes[origin] = number
                    lanes.setdefault(origin, []).extend(good)
                else:
                    others.extend(good)
                segment_end = seq
            bad = [(item.data, why) for item in items if (why := item.reason) is not None]
            if bad:  # after the message's good events are committed: see _dead_letter
                await self._publish(lanes, others, segment_end)
                lanes, others, segment_end = {}, [], 0
                await self._dead_letter(message.subject, seq, bad)
        else:
            await self._publish(lanes, others, segment_end)
        await send.send((self._last_bus_seq, self._handed, top))

    async def _not_delivered(self, missing: int, send: MemoryObjectSendStream[_Entry]) -> None:
        """A message that exists was not delivered: wait a little longer each time
        (a restart deletes and makes the consumer again: never in a tight loop). The
        third time in a row for the same message, it is one the server will not
        deliver through the consumer (its stored headers read as a NATS status line,
        say): it is read from the stream directly and taken like a delivered one
        (stored, or a dead letter), and the consumer goes on after it."""
        self._misses = self._misses + 1 if self._missing == missing else 1
        self._missing = missing
        if self._misses < _UNDELIVERABLE_AFTER:
            await anyio.sleep(min(0.05 * 2**self._misses, 1.0))
            return
        self._misses = 0
        js, client = self._js, self._client
        assert js is not None
        assert client is not None
        try:
            raw = await js.get_msg(self.stream, missing)
            subject, data, headers = raw.subject or "", raw.data or b"", raw.headers
        except nats.js.errors.NotFoundError:
            return  # deleted meanwhile: a gap like any other
        except Exception as exc:  # its headers may not even parse
            subject, data, headers = "", b"", None
            logger.warning("bridge consumer %s: reading %d: %s", self.origin, missing, exc)
        logger.warning(
            "bridge consumer %s: message %d is never delivered by the server: read directly",
            self.origin, missing,
        )  # fmt: skip
        direct = Msg(
            client,
            subject=subject,
            data=data,
            headers=headers,
            _metadata=Msg.Metadata(
                sequence=Msg.Metadata.SequencePair(stream=missing, consumer=0),
                num_pending=0,
                num_delivered=1,
                timestamp=datetime.datetime.now(datetime.UTC),
                stream=self.stream,
                consumer=self.durable,
            ),
        )
        if not subject:  # unreadable: a dead letter in its place
            await self._dead_letter("", missing, [(data, "a message the server cannot deliver")])
            self._handed = max(self._handed, missing)
            return
        await self._handle([direct], send, acknowledge=False)

    async def _missed(self, seq: int) -> int | None:
        """The first message between the last handed and ``seq`` that exists (and so
        was not delivered, or delivered and lost), rather than deleted from the
        stream; None if there is none."""
        js = self._js
        assert js is not None
        info = await js.stream_info(self.stream)
        for missing in range(max(self._handed + 1, info.state.first_seq), seq):
            try:
                await js.get_msg(self.stream, missing)
            except nats.js.errors.NotFoundError:
                continue
            logger.warning(
                "bridge consumer %s: message %d was not delivered before %d: starting again "
                "after %d", self.origin, missing, seq, self._handed,
            )  # fmt: skip
            return missing
        return None

    async def _publish(self, lanes: dict[str, list[Event]], others: list[Event], end: int) -> None:
        """Publish a segment's events: each lane's group (with its high-water mark),
        then the others with the stream cursor (its last sequence: the lanes' groups
        go first, so the cursor is committed with or after them)."""
        bus = self.node.bus
        groups = [
            (events, Headers(origin=tick_origin(self.stream, self.durable, origin),
                             cursor=self._lanes[origin]))
            for origin, events in lanes.items()
        ]  # fmt: skip
        if others:
            groups.append((others, Headers(origin=self.origin, cursor=end)))
        for events, headers in groups:
            try:
                seqs = bus.publish_many_nowait(events, headers=headers)
            except BusFull:
                seqs = await bus.publish_many(events, headers=headers)
            self._last_bus_seq = seqs[-1]
            self._consumed += len(events)

    async def _dead_letter(self, subject: str, seq: int, bad: list[tuple[bytes, str]]) -> None:
        """Commit ``bad`` (a message, or some events of a batch) to dead_letters with
        the stream cursor ``seq``, once what was published before is committed (the
        good events of the same batch too: the cursor then covers all of it)."""
        if self._last_bus_seq:
            with contextlib.suppress(NotStored):
                await self.node.bus.flush(self._last_bus_seq)
        failures = []
        for data, reason in bad:
            logger.warning(
                "bridge consumer %s: message %d (%s) goes to dead_letters: %s",
                self.origin, seq, subject, reason,
            )  # fmt: skip
            failure = Message.of_data(
                subject, seq, data, headers=Headers(origin=self.origin, cursor=seq)
            )
            failures.append((failure, f"from NATS: {reason}"))
        if isinstance(self.writer, PostgresWriter):
            await self.writer.pg.record_dead_letters(failures)
        else:
            await self.writer.sqlite.record_dead_letters(failures)
        self._dead += len(failures)

    # ---------------------------------------------------------------- acknowledging

    async def _ack_forever(self, receive: MemoryObjectReceiveStream[_Entry]) -> None:
        async with receive:
            async for bus_seq, handed, message in receive:
                if bus_seq:
                    with contextlib.suppress(NotStored):  # in dead_letters: committed
                        await self.node.bus.flush(bus_seq)
                if message is not None:
                    try:
                        await message.ack_sync(timeout=2.0)
                    except _RETRYABLE as exc:  # delivered again later, and skipped then
                        logger.debug("bridge consumer %s: acknowledging: %s", self.origin, exc)
                self._acked = max(self._acked, handed)
                if self._acked >= self._handed:
                    self._caught_up.set()

    # ---------------------------------------------------------------- reporting

    def statistics(self) -> ConsumerStatistics:
        return ConsumerStatistics(
            stream=self.stream,
            durable=self.durable,
            database=self.spec.name,
            started_at=self._started_at,
            handed=self._handed,
            acked=self._acked,
            consumed=self._consumed,
            duplicates=self._duplicates,
            redelivered=self._redelivered,
            dead_lettered=self._dead,
            lag=self._lag,
            restarts=self._restarts,
        )


def _stream_seq(message: Msg) -> int:
    seq: int = message.metadata.sequence.stream
    return seq


def _database(node: Node, database: str | None, stream: str | None, prefix: str) -> DatabaseSpec:
    names = [spec.name for spec in node.topology.databases]
    if database is not None:
        if database not in names:
            raise BridgeOptionError("database", database, f"one of {names}")
        return node.topology.spec(database)
    if stream is not None:
        for spec in node.topology.databases:
            if stream == stream_name(spec.name, prefix) or stream.upper().endswith(
                "_" + spec.name.upper()
            ):
                return spec
    hosted = [spec for spec in node.topology.databases if node.topology.owner(spec) in node.roles]
    if len(hosted) == 1:
        return hosted[0]
    raise BridgeOptionError(
        "database", database, f"one of {names} (the node hosts several, or the stream's "
        "name does not say which)"
    )  # fmt: skip
