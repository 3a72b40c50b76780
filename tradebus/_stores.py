"""Where each database of a node is stored: its SQLite file (the default), or a
PostgreSQL database (``open_node(..., stores={"main": "postgresql://..."})``).

A node writes PostgreSQL for the databases it hosts; for the others (their owner
runs elsewhere and keeps them in PostgreSQL) its outbox reads there what the owner
committed, to trim and to tell ``delivered()``. What reads SQLite files does
not read PostgreSQL: the node refuses, when it starts, the services that would
(candles, the position monitor, retention), and its readers refuse such a database
with an error saying where it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import asyncpg

from writers import DatabaseSpec, OutboxReader, PostgresWriter, WriterActor
from writers._pg_rules import CURSOR_OF, DEAD_LETTERS_OF
from writers._pg_session import check_dsn
from writers._pg_specs import pg_spec

from ._exceptions import TradebusError
from ._topology import Topology

__all__ = ["RemoteCursors", "StoreCursors", "check_stores", "committed_cursor"]

#: Seconds a read of another node's PostgreSQL database may take (connecting too).
QUERY_TIMEOUT = 10.0


def check_stores(stores: object, topology: Topology, hosted: tuple[str, ...]) -> dict[str, str]:
    """``stores`` as {database name: PostgreSQL URL}, checked.

    Keys name a database of ``topology`` (by name, file name or owner role); values
    are PostgreSQL URLs naming their database. A database whose owner ``hosted``
    does not hold is written by its owner's node: this node's outbox reads there
    what the owner committed of it.

    :raises TradebusError: naming the field, the value and what is allowed.
    """
    if stores is None:
        return {}
    if not isinstance(stores, Mapping):
        raise TradebusError(
            f"stores must be a mapping {{database: PostgreSQL URL}}, got {stores!r}"
        )
    checked: dict[str, str] = {}
    for key, dsn in stores.items():
        try:
            spec = topology.spec(key) if isinstance(key, str) else None
        except TradebusError:
            spec = None
        if spec is None:
            names = ", ".join(s.name for s in topology.databases)
            raise TradebusError(
                f"stores names {key!r}, which is no database of this topology; "
                f"allowed: {names} (or their file names or owner roles)"
            )
        try:
            check_dsn(dsn, f"stores[{spec.name!r}]")
            pg_spec(spec)
        except ValueError as exc:
            raise TradebusError(str(exc)) from None
        if spec.name in checked:
            raise TradebusError(f"stores names the database {spec.name!r} twice")
        checked[spec.name] = str(dsn)
    return checked


class StoreCursors:
    """A relay's view of the cursors committed in a PostgreSQL database: the same
    calls as an :class:`~writers.OutboxReader`'s, made from a worker thread (the
    relay's reads run in one) on the writer's connection."""

    def __init__(self, writer: PostgresWriter) -> None:
        self.writer = writer

    def cursor_of(self, source: str) -> int:
        return anyio.from_thread.run(self.writer.cursor_of, source)

    def dead_letters_of(self, source: str, after: int, upto: int) -> list[tuple[int, str, str]]:
        result: list[tuple[int, str, str]] = anyio.from_thread.run(
            self.writer.pg.dead_letters_of, source, after, upto
        )
        return result

    def close(self) -> None:
        """Nothing to close: the writer owns the connection."""


class RemoteCursors:
    """The cursors committed in a database another node writes in PostgreSQL, read
    on a connection of its own (opened when first needed, again after a fault), in
    the event loop: a cancelled read drops its connection rather than leave it busy."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: asyncpg.Connection[Any] | None = None
        self._lock = anyio.Lock()  # one query at a time on the connection

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._lock:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self.dsn, timeout=QUERY_TIMEOUT)
                return list(await self._conn.fetch(sql, *args, timeout=QUERY_TIMEOUT))
            except asyncpg.UndefinedTableError:
                return []  # its owner has not made its tables yet: nothing delivered
            except TimeoutError as exc:
                self._drop()
                raise TradebusError(
                    f"reading the delivered positions in PostgreSQL took more than "
                    f"{QUERY_TIMEOUT:g}s (is its server up?); nothing is lost, delivery goes on"
                ) from exc
            except BaseException:  # a fault or a cancellation
                self._drop()
                raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def cursor_of(self, source: str) -> int:
        rows = await self._fetch(CURSOR_OF, source)
        return int(rows[0][0]) if rows else 0

    async def dead_letters_of(
        self, source: str, after: int, upto: int
    ) -> list[tuple[int, str, str]]:
        rows = await self._fetch(DEAD_LETTERS_OF, source, after, upto)
        return [(int(c), str(t), str(e)) for c, t, e in rows]

    def close(self) -> None:
        self._drop()


async def committed_cursor(
    spec: DatabaseSpec,
    writer: WriterActor | PostgresWriter | None,
    stores: Mapping[str, str],
    path: Path,
    source: str,
) -> int:
    """The last position of ``source`` committed in ``spec``'s database (0: none):
    from its PostgreSQL writer, or its SQLite file at ``path``.

    :raises TradebusError: for a database kept in PostgreSQL by another node.
    """
    if isinstance(writer, PostgresWriter):
        return await writer.cursor_of(source)
    if spec.name in stores:
        raise TradebusError(
            f"the {spec.name!r} database is kept in PostgreSQL by its owner's node: "
            "read its cursors there"
        )
    reader = OutboxReader(path)
    try:
        return await anyio.to_thread.run_sync(reader.cursor_of, source)
    finally:
        reader.close()
