"""A relay: delivers another file's outbox rows for one database this node hosts.

The writer of another process (or a process hosting no role) appends the events it
publishes for this database to the ``outbox`` of its own file. The relay tails that
outbox read-only, in order, publishes each event on this node's bus with
``Headers(origin=<source>#<outbox id>, cursor=<position>)``, and the database's writer
commits the events with that cursor (``relay_cursors``) in one transaction. After a
crash of either side, the relay starts again from the committed cursor: every event
is stored once, ticks (which have no ``event_id``) included.

A row that is not a valid event (or not one of this database's) is committed to
``dead_letters`` with its origin and position, and the relay goes on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

from eventbus import BusFull, EventBus, EventBusError, Headers, Message, NotStored
from writers import DatabaseSpec, OutboxReader, OutboxRow, WriterActor

from ._file_watch import FileChanges
from ._relay_stats import RelayStatistics

__all__ = ["Relay", "RelayStatistics"]

logger = logging.getLogger("tradebus")

#: Rows read from an outbox at a time.
READ_LIMIT = 2_000
#: What publishing bytes that are not a valid event raises (the node's admit hook).
_REFUSED = (EventBusError, ValueError, msgspec.MsgspecError)


class Relay:
    """Delivers the rows of ``source``'s outbox for ``writer``'s database; see the module.

    :param source: the file holding the outbox.
    :param name: how the source is named in cursors and statistics (its path
        relative to the data directory).
    """

    def __init__(
        self,
        bus: EventBus,
        writer: WriterActor,
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
        self.own = OutboxReader(writer.path)  # to read the committed cursor
        self.origin = ""
        self.cursor = 0  # the last position published (committed once acknowledged)
        self.committed = 0
        self.pending = 0
        self.oldest_ts: int | None = None
        self.delivered = 0

    @property
    def key(self) -> str:
        return f"{self.name} -> {self.spec.name}"

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
        """Deliver until cancelled."""
        try:
            while True:
                version = self.changes.version(self.source)
                if not await self._deliver_some():
                    await self.changes.wait(self.source, version)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.outbox.close)
                await anyio.to_thread.run_sync(self.own.close)

    async def _deliver_some(self) -> bool:
        """Deliver the next rows; return False when there were none."""
        identity = await anyio.to_thread.run_sync(self.outbox.identity)
        if identity is None:
            self._idle()
            return False  # no file, or no outbox in it yet
        origin = f"{self.name}#{identity}"
        if origin != self.origin:  # the first look, or the file was replaced
            self.origin = origin
            self.cursor = self.committed = await anyio.to_thread.run_sync(
                self.own.cursor_of, origin
            )
        limit = READ_LIMIT
        while True:
            rows = await anyio.to_thread.run_sync(
                self.outbox.read, self.spec.name, self.cursor, limit
            )
            caught_up = len(rows) < limit
            # A full read may end inside a group (committed whole: its last rows
            # follow); a short one holds every row there is.
            whole = rows if caught_up else _whole_groups(rows)
            if whole or caught_up:
                break
            limit *= 2  # a group longer than a read: read it whole
        if not whole:
            self._idle()
            return False
        caught_up = caught_up and len(whole) == len(rows)
        if not caught_up:
            pending = await anyio.to_thread.run_sync(
                self.outbox.pending, self.spec.name, self.cursor
            )
            self.pending, self.oldest_ts = pending
        else:
            self.pending, self.oldest_ts = len(whole), whole[0].ts
        await self._publish(whole, wait_for_last=caught_up)
        if caught_up:
            self.committed = self.cursor
            self._idle()
        return True

    def _idle(self) -> None:
        self.pending, self.oldest_ts = 0, None

    async def _publish(self, rows: list[OutboxRow], *, wait_for_last: bool) -> None:
        """Publish ``rows`` in order (groups whole); with ``wait_for_last``, return once
        the last is committed (which cuts the writer's batch short)."""
        i = 0
        while i < len(rows):
            members = _group_at(rows, i)
            end = i + len(members)
            last = end == len(rows)
            await self._publish_one(members, wait=wait_for_last and last)
            self.cursor = members[-1].seq
            self.delivered += len(members)
            i = end

    async def _publish_one(self, members: list[OutboxRow], *, wait: bool) -> None:
        headers = Headers(origin=self.origin, cursor=members[-1].seq)
        items = [(row.data, row.topic) for row in members]
        try:
            if len(members) > 1:
                await self.bus.publish_encoded_many(items, headers=headers, wait=wait)
            elif wait:
                await self.bus.publish_encoded(*items[0], headers=headers, wait=True)
            else:
                try:
                    self.bus.publish_encoded_nowait(*items[0], headers=headers)
                except BusFull:
                    await self.bus.publish_encoded(*items[0], headers=headers)
        except NotStored:
            pass  # in dead_letters, with its origin and position: the sender is told
        except _REFUSED as exc:
            if isinstance(exc, EventBusError) and self.bus.closed:
                raise
            await self._refuse(members, exc)

    async def _refuse(self, members: list[OutboxRow], error: Exception) -> None:
        """Commit rows that are not valid events to dead_letters, with the cursor."""
        if self.cursor > self.committed:  # what was published before goes first
            await self.bus.flush()
        reason = f"not delivered from {self.name}: {type(error).__name__}: {error}"
        failures = [
            (
                Message.of_data(
                    row.topic, 0, row.data, headers=Headers(origin=self.origin, cursor=row.seq)
                ),
                reason,
            )
            for row in members
        ]
        logger.warning(
            "relay %s: %d event(s) at position %d refused: %s",
            self.key,
            len(members),
            members[0].seq,
            error,
        )
        await self.writer.sqlite.record_dead_letters(failures)


def _whole_groups(rows: list[OutboxRow]) -> list[OutboxRow]:
    """``rows`` without a trailing group whose last row they do not hold."""
    last = rows[-1].seq if rows else 0
    end = len(rows)
    while end > 0 and rows[end - 1].grp > last:
        end -= 1
    return rows[:end]


def _group_at(rows: list[OutboxRow], i: int) -> list[OutboxRow]:
    """The rows of the group that starts at ``rows[i]`` (itself alone if it has none,
    or if its rows are not all there: each then goes alone)."""
    grp = rows[i].grp
    if not grp or grp <= rows[i].seq:
        return rows[i : i + 1]
    end = i
    while end < len(rows) and rows[end].grp == grp:
        if rows[end].seq == grp:
            return rows[i : end + 1]
        end += 1
    return rows[i : i + 1]
