"""Reading another writer's file as a relay does: its outbox, and the cursors a
database holds of the outboxes it was delivered from.

Plain blocking calls on a read-only connection (run them in a worker thread): each
call, or each :meth:`OutboxReader.snapshot` block, is one short read transaction, so
none stays open between them and the writer of the file can always checkpoint its WAL.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ._reader import ReadOnlyConnection, reader_uri
from ._sqlite_outbox import CURSOR_OF, DEAD_LETTERS_OF, LAST_SEQ, OUTBOX_ID, READ, ROW_DETAILS

__all__ = ["OutboxReader", "OutboxRow", "OutboxView"]


class OutboxRow(NamedTuple):
    """One event an outbox holds for a database (its topic and time: see
    :meth:`OutboxView.details`)."""

    seq: int
    data: bytes
    #: The position of the last row of the atomic group it belongs to (0: alone), or
    #: minus the number of ticks the row holds (a row of several ticks, encoded as
    #: one msgpack array).
    grp: int

    @property
    def events(self) -> int:
        """How many events the row holds."""
        return -self.grp if self.grp < 0 else 1


class OutboxView:
    """One consistent look at an outbox: every read sees the same file and the same
    commit (see :meth:`OutboxReader.snapshot`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _fetch(self, sql: str, parameters: Sequence[object]) -> list[tuple[Any, ...]] | None:
        try:
            return self._conn.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # made by an older version: no outbox until migrated
            raise

    def identity(self) -> int | None:
        """The identity of the file's outbox (None: it has none yet)."""
        rows = self._fetch(OUTBOX_ID, ())
        return int(rows[0][0]) if rows else None

    def read(self, database: str, after: int, limit: int) -> list[OutboxRow]:
        """The next rows for ``database`` after position ``after``, until they hold
        ``limit`` events (a row of several ticks counts as its ticks: see
        :func:`OutboxRow.events`) or there are no more."""
        try:
            cursor = self._conn.execute(READ, (database, after, limit))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # made by an older version: no outbox until migrated
            raise
        rows: list[OutboxRow] = []
        events = 0
        # Row by row (SQLite steps as asked): a row of many ticks ends the read early,
        # and the rows after it are not read at all.
        for row in map(OutboxRow._make, cursor):
            rows.append(row)
            events += row.events
            if events >= limit:
                break
        cursor.close()
        return rows

    def details(self, seq: int) -> tuple[str, int]:
        """The topic a row was published to and when it was appended (ns); ("", 0)
        for a row that is not there."""
        rows = self._fetch(ROW_DETAILS, (seq,))
        if not rows:
            return "", 0
        topic, ts = rows[0]
        return (topic or b"").decode(errors="replace"), ts or 0

    def last_position(self) -> int:
        """The last position the outbox used (0: none, or none left to see)."""
        rows = self._fetch(LAST_SEQ, ())
        return int(rows[0][0]) if rows else 0


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
                isolation_level=None,
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

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[OutboxView | None]:
        """A consistent look at the outbox (None: no file): one connection, one read
        transaction, ended at the block's end (keep it short: the file's writer
        cannot reset its WAL behind an open read)."""
        with self._lock:
            conn = self._connection()
            if conn is None:
                yield None
                return
            conn.execute("BEGIN")
            try:
                yield OutboxView(conn)
            finally:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("COMMIT")

    def _fetch(self, sql: str, parameters: Sequence[object]) -> list[tuple[Any, ...]] | None:
        with self.snapshot() as view:
            return None if view is None else view._fetch(sql, parameters)  # noqa: SLF001 - its own

    def cursor_of(self, source: str) -> int:
        """The last position of ``source``'s outbox committed in this file (0: none)."""
        rows = self._fetch(CURSOR_OF, (source,))
        return int(rows[0][0]) if rows else 0

    def dead_letters_of(self, source: str, after: int, upto: int) -> list[tuple[int, str, str]]:
        """(position, event type, error) of each event of ``source`` between ``after``
        (excluded) and ``upto`` that this database's writer could not store."""
        rows = self._fetch(DEAD_LETTERS_OF, (source, after, upto))
        return [(int(c), str(t), str(e)) for c, t, e in rows or ()]

    def close(self) -> None:
        with self._lock:
            self._drop()
