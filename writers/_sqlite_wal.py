"""When a writer's SQLite connection checkpoints its WAL (copies the committed frames
into the database file), and what it learns there.

SQLite checkpoints on its own inside the ``COMMIT`` that takes the WAL past
``wal_autocheckpoint`` frames: that commit's events then wait for it. Where the WAL
index can be read (:class:`WalIndex`), SQLite's automatic checkpoint is off and the
writer's SQLite thread checkpoints instead, after a transaction's outcome is out;
where it cannot, the automatic checkpoint stays on. Either way the thread looks at
the WAL now and then, and warns when readers keep it from being reset.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable

import anyio

from ._sqlite import AUTOCHECKPOINT
from ._sqlite_thread import SqliteThread
from ._wal_index import WalIndex

__all__ = ["Checkpoint", "WalCheckpoints"]

logger = logging.getLogger("writers")

#: What ``PRAGMA wal_checkpoint`` returns: busy, frames in the WAL, frames copied.
Checkpoint = tuple[int, int, int]

_CHECKPOINT_EVERY = 5.0  # seconds between WAL inspections
# After this many inline transactions the thread looks at the WAL (each writes a few
# pages: their WAL grows as fast as the thread's own transactions would make it).
_INLINE_BETWEEN_INSPECTIONS = 64
_WAL_STARVED_FRAMES = 250_000  # ~1 GB of WAL that readers keep from being reset
# A WAL this long that a passive checkpoint did not reset: readers that follow one
# another (a dashboard polling) always hold a snapshot in it. A RESTART checkpoint
# then waits (briefly) for those on the WAL to finish, as later ones read the
# database file, so that the next transaction writes the WAL from its start.
_RESTART_FRAMES = 8 * AUTOCHECKPOINT
_RESTART_WAIT_MS = 1000
_RESTART_BACKOFF = (1.0, 30.0)  # seconds between tries: the first, and the most


class WalCheckpoints:
    """The checkpoints of the WAL of the database at ``path``, written by the writer
    ``name`` whose SQLite ``thread`` runs them. The connection is passed to each call
    (it lives in that thread)."""

    def __init__(self, path: str, name: str, thread: SqliteThread, busy_timeout_ms: int) -> None:
        self.path = path
        #: The thread's busy timeout, put back after a RESTART checkpoint's shorter one.
        self.busy_timeout_ms = busy_timeout_ms
        self.name = name
        self.thread = thread
        #: The WAL's frames not yet checkpointed, read from its index (see the module).
        self.index = WalIndex(path)
        #: SQLite's automatic checkpoint (``wal_autocheckpoint``: this many frames),
        #: 0 once the thread checkpoints instead.
        self.autocheckpoint = AUTOCHECKPOINT
        #: The frames the WAL held at the last checkpoint.
        self.frames = 0
        #: Inline transactions since the thread last looked at the WAL (event loop).
        self.inline_since = 0
        self._last_inspection = 0.0  # (thread)
        self._restart_at = 0.0  # when a RESTART checkpoint may be tried next (thread)
        self._restart_pause = _RESTART_BACKOFF[0]

    def open(self, conn: sqlite3.Connection) -> None:
        """Take the checkpoints over from SQLite if the WAL index can be read (in the
        thread, once ``conn`` is open)."""
        if self.index.open():
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self.autocheckpoint = 0

    def close(self, conn: sqlite3.Connection | None) -> None:
        """Stop reading the index; checkpoint what ``conn`` (if open) lets."""
        self.index.close()
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def due(self) -> bool:
        """Whether the thread should look at the WAL after an inline transaction."""
        return (
            self.inline_since >= _INLINE_BETWEEN_INSPECTIONS
            or time.monotonic() - self._last_inspection >= _CHECKPOINT_EVERY
        )

    @staticmethod
    def checkpoint(conn: sqlite3.Connection | None) -> Checkpoint | None:
        """Copy what readers let of the WAL into the database (None: ``conn`` is closed)."""
        if conn is None:
            return None
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def inspect(self, conn: sqlite3.Connection | None) -> None:
        """Checkpoint when the WAL holds ``AUTOCHECKPOINT`` frames not yet copied
        into the database, and now and then; warn when readers keep the WAL from
        being reset.

        Run by the SQLite thread after a transaction's outcome is out: nobody waits
        for it. The next transaction would wait for the checkpoint, so while one is
        queued the checkpoint waits instead, up to four times the frames. The warning
        comes from the periodic look only (a starved WAL stays over the threshold).
        """
        now = time.monotonic()
        self.inline_since = 0
        periodic = now - self._last_inspection >= _CHECKPOINT_EVERY
        backlog = self.index.backlog() if not self.autocheckpoint else None
        due = (
            backlog is not None
            and backlog >= AUTOCHECKPOINT
            and (backlog >= 4 * AUTOCHECKPOINT or not self.thread.transaction_queued())
        )
        if not (due or periodic):
            return
        if periodic:
            self._last_inspection = now
        try:
            row = self.checkpoint(conn)
        except sqlite3.Error:
            return
        if row is None:
            return
        _busy, frames, checkpointed = row
        self.frames = max(frames, 0)
        if (
            frames >= _RESTART_FRAMES
            and now >= self._restart_at
            and conn is not None
            # It may wait for readers: not ahead of a queued transaction, unless the
            # WAL has grown twice as long meanwhile.
            and (frames >= 2 * _RESTART_FRAMES or not self.thread.transaction_queued())
        ):
            self._restart(conn, now)
        if periodic and frames > _WAL_STARVED_FRAMES and checkpointed < frames:
            logger.warning(
                "writer %s: the WAL holds %d frames that cannot be checkpointed: a reader "
                "keeps a read transaction open; end it so the WAL can be reset",
                self.name,
                frames - checkpointed,
            )

    def _restart(self, conn: sqlite3.Connection, now: float) -> None:
        """A RESTART checkpoint, waiting at most ``_RESTART_WAIT_MS`` for the readers
        on the WAL; tried again at once after it succeeds, else after a pause that
        doubles (a reader holding a long read transaction is not waited for each
        time)."""
        try:
            conn.execute(f"PRAGMA busy_timeout={_RESTART_WAIT_MS}")
            try:
                busy, _frames, _copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        except sqlite3.Error:
            busy = 1
        if busy:
            self._restart_at = now + self._restart_pause
            self._restart_pause = min(self._restart_pause * 2, _RESTART_BACKOFF[1])
        else:
            self.frames = 0  # the next transaction writes the WAL from its start
            self._restart_at = now
            self._restart_pause = _RESTART_BACKOFF[0]

    async def rescue(self, checkpoint: Callable[[], Checkpoint | None], within: float) -> str:
        """Copy every committed transaction from the (unlinked) WAL into the database,
        by ``checkpoint`` run in the thread; say what was saved.

        A reader's open snapshot keeps a checkpoint from copying the frames after it:
        try again until readers let it (for at most ``within`` seconds).
        """
        deadline = anyio.current_time() + within
        while True:
            try:
                row = await self.thread.call(checkpoint)
            except sqlite3.Error as exc:
                return (
                    f"copying the WAL into {self.path} failed ({exc}): committed events may be lost"
                )
            if row is not None and row[1] >= 0 and row[1] == row[2]:
                break  # every frame of the log is in the database file
            if anyio.current_time() >= deadline:
                return (
                    f"copying the WAL into {self.path} was blocked by readers for "
                    f"{within:g} s: committed events may be lost when the writer stops"
                )
            await anyio.sleep(0.05)
        return (
            f"every committed transaction was copied into {self.path} (so every event "
            "acknowledged before is there; the held ones may be too); restart the writer"
        )
