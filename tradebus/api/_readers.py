"""The read endpoints' connections: a small pool of read-only connections per database.

Each connection is the writers' read-only connection (:class:`writers.ReadOnlyConnection`
on :func:`writers.reader_uri`, as :func:`writers.open_reader` opens it: no SQL through
it can write), opened on first use, at most ``options.readers`` per database, each
used by one request at a time on a worker thread. A read runs in one transaction: the
queries of one request see one snapshot of the file. A database whose file does not
exist yet (its owner never started) reads as empty; so does a table an older file
lacks.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from writers import ReadOnlyConnection, reader_uri

from ._pages import Cursors

__all__ = ["Query", "ReadState", "ReaderPool", "ReaderPools", "fetch"]

logger = logging.getLogger("tradebus.api")

T = TypeVar("T")
#: What a read does with its connection (on a worker thread).
Query = Callable[[sqlite3.Connection], T]

#: Seconds a reader waits for a lock (a checkpoint resetting the WAL) before failing.
BUSY_TIMEOUT = 5.0


def fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts keyed by column name."""
    cursor = conn.execute(sql, params)
    try:
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


class ReaderPool:
    """At most ``size`` read-only connections to the database in file ``path``."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._idle: list[sqlite3.Connection] = []
        self._slots: anyio.Semaphore | None = None
        self._exists = False
        self._closed = False

    async def read(self, query: Query[T], empty: T) -> T:
        """``query(conn)`` in one read transaction on a worker thread; ``empty`` if
        the file does not exist yet or lacks a table the query reads."""
        if not self._exists:
            if not await anyio.Path(self.path).exists():
                return empty
            self._exists = True
        if self._slots is None:
            self._slots = anyio.Semaphore(self.size)
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            conn, result, missing = await anyio.to_thread.run_sync(self._run, conn, query)
            if conn is not None:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)
        return empty if missing else result

    def _run(
        self, conn: sqlite3.Connection | None, query: Query[T]
    ) -> tuple[sqlite3.Connection | None, Any, bool]:
        if conn is None:
            conn = sqlite3.connect(
                reader_uri(self.path),
                uri=True,
                timeout=BUSY_TIMEOUT,
                factory=ReadOnlyConnection,
                isolation_level=None,
                check_same_thread=False,  # one request at a time, on any worker thread
            )
        try:
            conn.execute("BEGIN")
            try:
                result = query(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return conn, None, True
            conn.close()  # a connection in an unknown state is not reused
            raise
        except BaseException:
            conn.close()
            raise
        return conn, result, False

    def close(self) -> None:
        """Close the idle connections (those in use close when their read ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class ReaderPools:
    """A :class:`ReaderPool` per database, made on first use.

    :param path: the file of a database, by name (``main``, ``analysis``, ``logs``).
    :param size: connections per database at most.
    """

    def __init__(self, path: Callable[[str], Path], size: int) -> None:
        self._path = path
        self._size = size
        self._pools: dict[str, ReaderPool] = {}

    def pool(self, database: str) -> ReaderPool:
        pool = self._pools.get(database)
        if pool is None:
            pool = self._pools[database] = ReaderPool(self._path(database), self._size)
        return pool

    async def read(self, database: str, query: Query[T], empty: T) -> T:
        """``query`` on a connection of ``database``; see :meth:`ReaderPool.read`."""
        return await self.pool(database).read(query, empty)

    def close(self) -> None:
        """Close every idle connection (the server stops)."""
        for pool in self._pools.values():
            pool.close()


class ReadState:
    """What the read endpoints of one server share: their connections, and the secret
    their cursors are signed with (a cursor is valid for the server that gave it).

    :param path: the file of a database, by name.
    :param size: connections per database at most.
    """

    def __init__(self, path: Callable[[str], Path], size: int) -> None:
        self.pools = ReaderPools(path, size)
        self.cursors = Cursors(secrets.token_bytes(32))

    def close(self) -> None:
        """Close the idle connections (the server stops)."""
        self.pools.close()
