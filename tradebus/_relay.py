"""A relay: delivers another file's outbox rows for one database this node hosts.

The writer of another process (or a process hosting no role) appends the events it
publishes for this database to the ``outbox`` of its own file. The relay tails that
outbox read-only, in order, publishes each event (decoded and validated) on this node's bus with
``Headers(origin=<source>#<outbox id>, cursor=<position>)``, and the database's writer
commits the events with that cursor (``relay_cursors``) in one transaction. After a
crash of either side, the relay starts again from the committed cursor: every event
is stored once, ticks (which have no ``event_id``) included.

A row that is not a valid event (or not one of this database's) is committed to
``dead_letters`` with its origin and position, and the relay goes on.

A row may hold several ticks (see ``writers.TICKS_PER_ROW``): they are published as
one group with the row's position, so they are committed whole with the cursor, or
refused whole (one dead letter holding the row as it was sent).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import NamedTuple

import anyio
import anyio.to_thread
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from eventbus import BusFull, EventBus, Headers, Message, NotStored
from schemas import AnyEvent, Event, InvalidEvent, Tick, decode, pack_array, validate
from writers import DatabaseSpec, OutboxReader, OutboxRow, PostgresWriter, WriterActor

from ._file_watch import FileChanges
from ._relay_stats import RelayStatistics
from ._relay_units import Unit, cut_units, whole_groups
from ._stores import StoreCursors

__all__ = ["Relay", "RelayStatistics", "relay_key"]

logger = logging.getLogger("tradebus")

#: Events read from an outbox at a time (a row of several ticks counts as its ticks).
READ_LIMIT = 5_000
_list_decoder = msgspec.msgpack.Decoder(list[AnyEvent])
_ticks_decoder = msgspec.msgpack.Decoder(list[Tick])
#: The longest pause before a relay reads a source again after failing to (seconds).
MAX_PAUSE = 30.0
#: How often a relay reads its committed cursor, for statistics (seconds).
COUNT_EVERY = 1.0


class _Chunk(NamedTuple):
    """Rows read from a source's outbox, with their events (or why each is none)."""

    origin: str
    after: int
    units: list[Unit]
    caught_up: bool
    pending: int
    #: When the first of the rows was appended (ns).
    oldest_ts: int | None


class Relay:
    """Delivers the rows of ``source``'s outbox for ``writer``'s database; see the module.

    :param source: the file holding the outbox.
    :param name: how the source is named in cursors and statistics (its path
        relative to the data directory).
    """

    def __init__(
        self,
        bus: EventBus,
        writer: WriterActor | PostgresWriter,
        source: Path,
        name: str,
        changes: FileChanges,
    ) -> None:
        self.bus = bus
        self.writer = writer
        self.spec: DatabaseSpec = writer.spec
        self.source = source
        self.name = name
        self.changes = changes
        self.outbox = OutboxReader(source)
        # To read the committed cursor: from the file, or from PostgreSQL.
        self.own: OutboxReader | StoreCursors = (
            StoreCursors(writer)
            if isinstance(writer, PostgresWriter)
            else OutboxReader(writer.path)
        )
        self.origin = ""
        self.cursor = 0  # the last position published (committed once acknowledged)
        self.committed = 0
        self.pending = 0
        self.oldest_ts: int | None = None
        self.delivered = 0
        self._count_after = 0.0
        #: The bus seq of the last message published without waiting for its commit.
        self._unwaited: int | None = None
        #: Per outbox identity seen in this run: the last position read (the relay
        #: goes on from there if the file comes back, whatever is still in flight).
        self._positions: dict[str, int] = {}

    @property
    def key(self) -> str:
        return relay_key(self.name, self.spec.name)

    def statistics(self) -> RelayStatistics:
        lag = 0.0
        if self.pending and self.oldest_ts is not None:
            lag = max(0.0, (time.time_ns() - self.oldest_ts) / 1e9)
        return RelayStatistics(
            source=self.name,
            database=self.spec.name,
            cursor=self.committed,
            pending=self.pending,
            lag_seconds=lag,
            delivered=self.delivered,
        )

    async def run(self) -> None:
        """Deliver until cancelled: one task reads (and decodes) the next rows while
        another publishes those read before."""
        send, receive = anyio.create_memory_object_stream[_Chunk](1)
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self._read_forever, send)
                task_group.start_soon(self._publish_forever, receive)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.outbox.close)
                await anyio.to_thread.run_sync(self.own.close)

    async def _read_forever(self, send: MemoryObjectSendStream[_Chunk]) -> None:
        async with send:
            origin, after = "", 0
            pause = 0.1
            while True:
                version = self.changes.version(self.source)
                try:
                    chunk = await anyio.to_thread.run_sync(self._read, origin, after)
                except Exception as exc:  # a source it cannot read now: try again later
                    logger.error(
                        "relay %s: reading failed: %s; again in %.1f s", self.key, exc, pause
                    )
                    await anyio.sleep(pause)
                    pause = min(pause * 2, MAX_PAUSE)
                    continue
                pause = 0.1
                if chunk is not None:
                    origin, after = chunk.origin, chunk.after
                    if chunk.units:
                        await send.send(chunk)
                if chunk is None or chunk.caught_up:
                    await self.changes.wait(self.source, version)

    def _read(self, origin: str, after: int) -> _Chunk | None:
        """(In a worker thread.) The next rows of the source's outbox, decoded: after
        position ``after`` if it is still ``origin``, else after where this relay left
        that outbox (the committed cursor, the first time); None if the source has no
        outbox (yet). The identity and the rows are read in one read transaction: a
        file replaced meanwhile is seen whole, old or new."""
        with self.outbox.snapshot() as view:
            identity = None if view is None else view.identity()
            if view is None or identity is None:
                return None  # no file, or no outbox in it yet
            if f"{self.name}#{identity}" != origin:  # the first look, or another file now
                if origin:
                    self._positions[origin] = after
                origin = f"{self.name}#{identity}"
                after = self._positions.get(origin, -1)
                if after < 0:  # first seen in this run: nothing of it is in flight
                    after = self.own.cursor_of(origin)
            limit = READ_LIMIT
            while True:
                rows = view.read(self.spec.name, after, limit)
                caught_up = sum(row.events for row in rows) < limit
                # A full read may end inside a group (committed whole: its last rows
                # follow); a short one holds every row there is.
                whole = rows if caught_up else whole_groups(rows)
                if whole or caught_up:
                    break
                limit *= 2  # a group longer than a read: read it whole
            # Events past the cursor for this database: those read, if that is all;
            # else the positions left (the others' rows count too: counting exactly
            # would read the whole backlog) times the events per row of this read.
            events = sum(row.events for row in whole)
            if caught_up:
                pending = events
            else:
                pending = (view.last_position() - after) * events // max(1, len(whole))
            units = cut_units(whole, self._decode(whole)) if whole else []
            for unit in units:
                if unit.refused is not None:  # their topics, for the dead letters
                    unit.topics.extend(view.details(row.seq)[0] for row in unit.rows)
            oldest_ts = view.details(whole[0].seq)[1] if whole else None
        if time.monotonic() >= self._count_after:
            self.committed = self.own.cursor_of(origin)  # for statistics, once a second
            self._count_after = time.monotonic() + COUNT_EVERY
        return _Chunk(
            origin=origin,
            after=whole[-1].seq if whole else after,
            units=units,
            caught_up=caught_up,
            pending=pending,
            oldest_ts=oldest_ts,
        )

    async def _publish_forever(self, receive: MemoryObjectReceiveStream[_Chunk]) -> None:
        async with receive:
            async for chunk in receive:
                self.origin = chunk.origin
                self.pending, self.oldest_ts = chunk.pending, chunk.oldest_ts
                await self._publish(chunk.units, wait_for_last=chunk.caught_up)
                if chunk.caught_up:
                    self.committed = self.cursor
                    self._idle()

    def _idle(self) -> None:
        self.pending, self.oldest_ts = 0, None

    async def _publish(self, units: list[Unit], *, wait_for_last: bool) -> None:
        """Publish ``units`` in order; with ``wait_for_last``, return once the last is
        committed (which cuts the writer's batch short). Rows that are not valid events
        for this database go to its dead_letters, in their place: what was published
        before them is committed first."""
        for n, unit in enumerate(units):
            if unit.refused is not None:
                await self._refuse(unit, unit.refused)
            else:
                following = units[n + 1] if n + 1 < len(units) else None
                wait = wait_for_last if following is None else following.refused is not None
                await self._publish_one(unit, wait=wait)
            self.cursor = unit.rows[-1].seq
            self.delivered += sum(row.events for row in unit.rows)

    def _decode(self, rows: list[OutboxRow]) -> list[Event | list[Tick] | Exception]:
        """Each row's event (of this database; published to its own topic), or its
        ticks (a row of several), or why it has none.

        Decoded in one call, then each checked as the bus's admit hook checks it (a
        handful of comparisons for a tick): a row that is not valid is known before
        anything after it is published, and goes to dead_letters in its place."""
        if any(row.grp < 0 for row in rows):
            return [self._decode_ticks(row) if row.grp < 0 else self._decode([row])[0]
                    for row in rows]  # fmt: skip
        try:
            events: list[Event | list[Tick] | Exception] = list(
                _list_decoder.decode(pack_array([row.data for row in rows]))
            )
        except Exception:  # any refusal: each row decoded alone names its own
            events = []
            for row in rows:
                try:
                    events.append(decode(row.data))
                except InvalidEvent as exc:
                    events.append(exc)
        stored = self.spec.event_types
        for i, event in enumerate(events):
            if isinstance(event, Exception | list):
                continue
            try:
                validate(event)
            except InvalidEvent as exc:
                events[i] = exc
                continue
            if type(event) not in stored:
                events[i] = InvalidEvent(
                    "event", None, type(event).__name__, f"not stored by {self.spec.name!r}"
                )
        return events

    def _decode_ticks(self, row: OutboxRow) -> list[Tick] | Exception:
        """The ticks of a row of several, or why they are none: the row is delivered
        whole or refused whole (one position, one dead letter)."""
        what = f"a row of {row.events} ticks"
        if Tick not in self.spec.event_types:
            return InvalidEvent("event", None, "Tick", f"not stored by {self.spec.name!r}")
        try:
            ticks = _ticks_decoder.decode(row.data)
        except Exception as exc:  # DecodeError, ValidationError, ...
            return InvalidEvent(
                "event", None, bytes(row.data[:32]), f"{what}, refused whole: {exc}"
            )
        if len(ticks) != row.events:
            return InvalidEvent(
                "event", None, len(ticks), f"{what} holds {len(ticks)}: not what it says"
            )
        # Each is checked as it is published (the bus's admit hook; see _publish_one).
        return ticks

    async def _publish_one(self, unit: Unit, *, wait: bool) -> None:
        """Publish a unit: a group (its events share the cursor of its last) or one event."""
        headers = Headers(origin=self.origin, cursor=unit.rows[-1].seq)
        events = unit.events
        try:
            if len(events) > 1:
                if wait:
                    await self.bus.publish_many(events, headers=headers, wait=True)
                else:
                    try:
                        seqs = self.bus.publish_many_nowait(events, headers=headers)
                    except BusFull:
                        seqs = await self.bus.publish_many(events, headers=headers)
                    self._unwaited = seqs[-1]
                    return
            elif wait:
                await self.bus.publish(events[0], headers=headers, wait=True)
            else:
                try:
                    self._unwaited = self.bus.publish_nowait(events[0], headers=headers)
                except BusFull:
                    self._unwaited = await self.bus.publish(events[0], headers=headers)
                return
        except NotStored:
            pass  # in dead_letters, with its origin and position: the sender is told
        except InvalidEvent as exc:  # refused by the bus, before any was published
            # (the ticks of a row of several are checked only there, not twice).
            topics = await anyio.to_thread.run_sync(self._topics, unit.rows)
            error = exc
            if unit.rows[-1].grp < 0:
                reason = f"{exc.reason} (one of a row of {len(events)} ticks, refused whole)"
                error = InvalidEvent(exc.event_type, exc.field, exc.value, reason)
            await self._refuse(Unit(unit.rows, [], error, topics), error)
            return
        self._unwaited = None  # waited for: it, and all before it, are committed

    def _topics(self, rows: list[OutboxRow]) -> list[str]:
        """(In a worker thread.) The topics of ``rows`` (for their dead letters)."""
        with self.outbox.snapshot() as view:
            return [view.details(row.seq)[0] if view else "" for row in rows]

    async def _refuse(self, unit: Unit, error: Exception) -> None:
        """Commit rows that are not valid events to dead_letters, with the cursor, once
        everything published before them is committed (the cursor must not pass an
        event that is not stored yet)."""
        if self._unwaited is not None:  # published without waiting (a previous read)
            with contextlib.suppress(NotStored):  # those refused are in dead_letters
                await self.bus.flush(self._unwaited)
            self._unwaited = None
        members = unit.rows
        reason = f"not delivered from {self.name}: {error}"
        failures = [
            (
                Message.of_data(
                    topic, 0, row.data, headers=Headers(origin=self.origin, cursor=row.seq)
                ),
                reason,
            )
            for row, topic in zip(members, unit.topics, strict=True)
        ]
        logger.warning(
            "relay %s: %d event(s) at position %d refused: %s",
            self.key,
            len(members),
            members[0].seq,
            error,
        )
        if isinstance(self.writer, PostgresWriter):
            await self.writer.pg.record_dead_letters(failures)
        else:
            await self.writer.sqlite.record_dead_letters(failures)


def relay_key(source: str, database: str) -> str:
    """How a relay is named in statistics: ``"<source file> -> <database>"``."""
    return f"{source} -> {database}"
