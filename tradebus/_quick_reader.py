"""Point reads on the event loop's own thread, for the checks of the integration calls.

A check reads a row or two by an indexed key: microseconds of SQLite's time. Sending
it to aiosqlite's thread and back costs two thread hops, several times the read
itself, and a ``log_*`` call makes one or two of them before it publishes. A
:class:`QuickReader` runs such a read on the calling thread through a plain read-only
connection that never waits: a read that would wait for a lock (``SQLITE_BUSY``: a
checkpoint resetting the WAL, a recovery) goes through the aiosqlite connection
instead, which waits its busy timeout in its own thread, never on the event loop.

A database this node writes is read faster still through its writer's own
connection (:class:`OwnReader`), while the writer's thread is idle.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from writers import ReadOnlyConnection, reader_uri

__all__ = ["OwnReader", "QuickReader", "ReadsNow", "RowSource"]


class RowSource(Protocol):
    """What the checks read through: an aiosqlite connection, a :class:`QuickReader`
    or an :class:`OwnReader`."""

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> Iterable[sqlite3.Row]: ...


class QuickReader:
    """Reads ``path`` on the calling thread; see the module's docstring.

    :param fallback: where a read goes when the quick one would wait (the node's
        shared aiosqlite connection of the same file).
    """

    def __init__(self, path: Path, fallback: RowSource) -> None:
        self.fallback = fallback
        self.quick_reads = 0
        self.fallbacks = 0
        # timeout=0: a busy database raises at once; the read then takes the thread.
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            reader_uri(path),
            uri=True,
            timeout=0.0,
            factory=ReadOnlyConnection,
            isolation_level=None,
            check_same_thread=False,  # one thread at a time: the event loop's
        )

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> Iterable[sqlite3.Row]:
        """Every row of ``sql``, read in one step (no statement stays open)."""
        conn = self._conn
        if conn is not None:
            try:
                with closing(conn.execute(sql, tuple(parameters or ()))) as cursor:
                    rows = cursor.fetchall()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
            else:
                self.quick_reads += 1
                return rows
        self.fallbacks += 1
        return await self.fallback.execute_fetchall(sql, parameters)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class ReadsNow(Protocol):
    """A writer that can read through its own connection (``WriterActor.read_now``)."""

    def read_now(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any] | None: ...


class OwnReader:
    """Reads a database this node writes through its writer's own connection, on the
    calling thread, while the writer's SQLite thread is idle; else through
    ``fallback`` (a :class:`QuickReader`). For the checks of the integration calls:
    their reads are ``SELECT`` statements of their own (never a caller's SQL).

    The writer's connection holds the pages it just committed, where another
    connection must first take its locks and read them again: on a CPU that was idle
    those system calls are most of a point read's time.
    """

    def __init__(self, writer: ReadsNow, fallback: RowSource) -> None:
        self.writer = writer
        self.fallback = fallback
        self.own_reads = 0

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> Iterable[sqlite3.Row]:
        rows = self.writer.read_now(sql, tuple(parameters or ()))
        if rows is None:
            return await self.fallback.execute_fetchall(sql, parameters)
        self.own_reads += 1
        return rows


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
