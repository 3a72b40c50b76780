"""Reading another writer's file as a relay does: its outbox, and the cursors a
database holds of the outboxes it was delivered from.

Plain blocking calls on a read-only connection (run them in a worker thread): each
is one statement, so no read transaction stays open between them and the writer of
the file can always checkpoint its WAL.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ._reader import ReadOnlyConnection, reader_uri
from ._sqlite_outbox import CURSOR_OF, DEAD_LETTERS_OF, OUTBOX_ID, PENDING, READ

__all__ = ["OutboxReader", "OutboxRow", "Pending"]


class OutboxRow(NamedTuple):
    """One event an outbox holds for a database."""

    seq: int
    topic: str
    data: bytes
    #: The position of the last row of the atomic group it belongs to (0: alone).
    grp: int
    ts: int


class Pending(NamedTuple):
    """Rows of an outbox for a database past a position, and the oldest one's ts."""

    rows: int
    oldest_ts: int | None


class OutboxReader:
    """A read-only view of one file's outbox (and of the relay cursors it holds).

    The connection is opened on first use and again when the file at ``path`` is
    another one (replaced): a reader never goes on reading a file that was moved away.
    A file that does not exist yet, or holds no outbox yet, reads as empty.
    Thread-safe (calls are serialized).
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._drop()
            return None
        if self._conn is not None and self._file == (st.st_dev, st.st_ino):
            return self._conn
        self._drop()
        try:
            conn = sqlite3.connect(
                reader_uri(self.path),
                uri=True,
                timeout=self.busy_timeout,
                factory=ReadOnlyConnection,
                check_same_thread=False,
            )
        except sqlite3.Error:
            return None
        self._conn, self._file = conn, (st.st_dev, st.st_ino)
        return conn

    def _drop(self) -> None:
        conn, self._conn, self._file = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _fetch(self, sql: str, parameters: Sequence[object]) -> list[tuple[object, ...]] | None:
        """The rows of ``sql``, or None if the file or its table is not there (yet)."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            try:
                return conn.execute(sql, parameters).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return None  # made by an older version: no outbox until migrated
                raise

    def identity(self) -> int | None:
        """The identity of the file's outbox (None: it has none yet)."""
        rows = self._fetch(OUTBOX_ID, ())
        return int(rows[0][0]) if rows else None  # type: ignore[call-overload]

    def read(self, database: str, after: int, limit: int) -> list[OutboxRow]:
        """The next rows (at most ``limit``) for ``database`` after position ``after``."""
        rows = self._fetch(READ, (database, after, limit))
        return list(map(OutboxRow._make, rows or ()))

    def pending(self, database: str, after: int) -> Pending:
        """How many rows for ``database`` wait after ``after``, and since when."""
        rows = self._fetch(PENDING, (database, after))
        if not rows:
            return Pending(0, None)
        count, oldest = rows[0]
        return Pending(int(count), None if oldest is None else int(oldest))  # type: ignore[call-overload]

    def cursor_of(self, source: str) -> int:
        """The last position of ``source``'s outbox committed in this file (0: none)."""
        rows = self._fetch(CURSOR_OF, (source,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def dead_letters_of(self, source: str, after: int, upto: int) -> list[tuple[int, str, str]]:
        """(position, event type, error) of each event of ``source`` between ``after``
        (excluded) and ``upto`` that this database's writer could not store."""
        rows = self._fetch(DEAD_LETTERS_OF, (source, after, upto))
        return [(int(c), str(t), str(e)) for c, t, e in rows or ()]  # type: ignore[call-overload]

    def close(self) -> None:
        with self._lock:
            self._drop()
