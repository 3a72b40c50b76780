"""This node's outbox: what its writer forwarded to databases owned elsewhere.

Each event published here for a database whose owner role this node does not host is
appended by the node's writer to the ``outbox`` of its own file, in the same
transaction as the rest of its batch (that commit is when ``log_*`` returns). The
owner's relay delivers it and commits its cursor in the owner's database; reading
that cursor tells this node what arrived: :meth:`Outbox.delivered` waits for it, and
rows behind it are trimmed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import anyio.to_thread

from writers import OutboxReader, WriterActor

from ._exceptions import NotDelivered
from ._file_watch import FileChanges
from ._stores import RemoteCursors

__all__ = ["TRIM_EVERY", "Outbox"]

logger = logging.getLogger("tradebus")

#: How often delivered rows are trimmed (seconds).
TRIM_EVERY = 1.0


class Outbox:
    """The outbox in ``writer``'s file, named ``name`` (relative to the data
    directory); ``destinations`` are the files of the databases it forwards to, and
    ``stores`` those their owners keep in PostgreSQL instead ({database: URL})."""

    def __init__(
        self,
        writer: WriterActor,
        name: str,
        destinations: dict[str, Path],
        changes: FileChanges,
        stores: dict[str, str] | None = None,
    ) -> None:
        self.writer = writer
        self.name = name
        self.destinations = destinations
        self.changes = changes
        stores = dict(stores or {})
        self._readers: dict[str, OutboxReader | RemoteCursors] = {
            database: RemoteCursors(stores[database]) if database in stores else OutboxReader(path)
            for database, path in destinations.items()
        }
        self._trimmed: dict[str, int] = {}
        self._unknown: set[str] = set()
        #: Per database: dead letters reported up to this position.
        self._reported: dict[str, int] = {}

    @property
    def origin(self) -> str:
        """How the owners' relays name this outbox in their cursors."""
        return f"{self.name}#{self.writer.sqlite.outbox.id}"

    def committed(self) -> dict[str, int]:
        """Per database of the topology: the last position this outbox committed for
        it (rows for a database the topology does not have cannot be delivered: they
        stay, and are named once in the log)."""
        committed = {}
        for database, position in self.writer.sqlite.outbox.committed.items():
            if database in self.destinations:
                committed[database] = position
            elif database not in self._unknown:
                self._unknown.add(database)
                logger.warning(
                    "outbox %s holds events for %r, a database this topology does not "
                    "have: they cannot be delivered",
                    self.name,
                    database,
                )
        return committed

    async def resume(self) -> None:
        """Before anything is appended: make sure new positions come after every one
        an owner has committed (a file restored from an older copy would otherwise
        reuse positions its owners take as delivered)."""
        cursors = [await self.cursor(database) for database in self.destinations]
        highest = max(cursors, default=0)
        if highest >= self.writer.sqlite.outbox.next:
            logger.warning(
                "outbox %s: its owners have committed up to position %d, past what this "
                "file holds (restored from an older copy?): new events continue after it",
                self.name,
                highest,
            )
            await self.writer.sqlite.continue_outbox_after(highest)

    async def cursor(self, database: str) -> int:
        """The last position of this outbox the database's owner committed."""
        reader = self._readers[database]
        if isinstance(reader, RemoteCursors):
            return await reader.cursor_of(self.origin)
        return await anyio.to_thread.run_sync(reader.cursor_of, self.origin)

    async def delivered(self) -> None:
        """Return once every event this node appended so far is committed by its owner
        (waiting as long as it takes: the caller bounds it). Rows an earlier process
        left in the file are delivered too, but not waited for.

        :raises NotDelivered: if an owner could not store some of them (they are in
            its dead_letters); each is reported once.
        """
        sent = self.writer.sqlite.outbox.sent
        targets = {d: sent[d] for d in self.committed() if d in sent}
        for database, target in targets.items():
            path = self.destinations[database]
            while True:
                version = self.changes.version(path)
                if await self.cursor(database) >= target:
                    break
                await self.changes.wait(path, version)
        for database, target in targets.items():
            # What was trimmed before this node started was delivered long ago.
            held_from = self.writer.sqlite.outbox.held_from.get(database, target + 1)
            after = self._reported.get(database, held_from - 1)
            if target <= after:
                continue
            reader = self._readers[database]
            if isinstance(reader, RemoteCursors):
                failed = await reader.dead_letters_of(self.origin, after, target)
            else:
                failed = await anyio.to_thread.run_sync(
                    reader.dead_letters_of, self.origin, after, target
                )
            self._reported[database] = target
            if failed:
                raise NotDelivered(database, self.destinations[database].name, failed)

    async def trim_forever(self) -> None:
        """Trim what the owners committed, every :data:`TRIM_EVERY` seconds."""
        while True:
            await anyio.sleep(TRIM_EVERY)
            for database in self.committed():
                try:
                    cursor = await self.cursor(database)
                    if cursor > self._trimmed.get(database, 0):
                        await self.writer.sqlite.trim_outbox(database, cursor)
                        self._trimmed[database] = cursor
                except Exception as exc:  # trimming again later is harmless
                    logger.warning(
                        "outbox %s: trimming for %s failed: %s", self.name, database, exc
                    )

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
