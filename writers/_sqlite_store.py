"""The SQLite store: one database file, its lock, and the thread owning its connection."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from eventbus import Message

from ._exceptions import WriterError
from ._lock import WriterLock
from ._outbox_state import OutboxState
from ._pending import PendingJob
from ._specs import DatabaseSpec, Statement
from ._sqlite import Synchronous, is_transient, migrate, open_write_connection, poison_of
from ._sqlite_outbox import DEAD_LETTER
from ._sqlite_plan import Planner, SqliteTransaction, prepare_tick_statements, relay_cursors
from ._sqlite_thread import Job, SqliteThread
from ._sqlite_wal import Checkpoint, WalCheckpoints
from ._sqlite_watch import FilesChanged, FileWatch
from ._store import Fault, Poison, Transaction, dead_letter_rows

__all__ = ["SqliteStore"]

T = TypeVar("T")

# A transaction of at most this many rows runs in the event loop's thread when the
# SQLite thread is idle (a lone call's round trip then has no thread hop); with
# synchronous FULL or EXTRA a commit waits for the disk: never in the event loop.
_INLINE_ROWS = 64
_INLINE_SYNCHRONOUS = frozenset({"OFF", "NORMAL"})


class SqliteStore:
    """One SQLite database in WAL mode, written by one writer; see :class:`Store`.

    Its connection lives in a thread of its own (:class:`SqliteThread`), opened there
    holding the file's :class:`WriterLock`; transactions run there back to back.
    """

    runs_off_loop = True

    def __init__(
        self,
        spec: DatabaseSpec,
        path: str,
        *,
        role: str = "",
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        rescue_timeout: float = 30.0,
        expected_batch: int = 0,
        forward: Sequence[DatabaseSpec] = (),
    ) -> None:
        self.spec = spec
        self.path = path
        self.synchronous: Synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.rescue_timeout = rescue_timeout
        self.expected_batch = expected_batch
        self.lock = WriterLock(path, role)
        self.thread = SqliteThread(
            f"tradebus writer {spec.name}",
            after_transaction=self._inspect_wal,
            housekeeping_due=self._inspection_due,
            before_job=self._thread_settings,
        )
        #: The WAL's checkpoints (see :class:`WalCheckpoints`): by the thread, after a
        #: transaction's outcome is out, where the WAL index can be read.
        self.wal = WalCheckpoints(path, spec.name, self.thread, round(busy_timeout * 1000))
        self.watch = FileWatch(path)
        self.planner = Planner(spec, forward=forward)
        #: Its outbox: identity, positions, what is committed and held per database.
        self.outbox = OutboxState()
        self._conn: sqlite3.Connection | None = None  # used in the thread only
        self._planned_tick_seq = 1  # the next tick seq to plan (event loop)
        self._committed_tick_seq = 1  # the next tick seq after the last commit (thread)
        # Whether the connection has the settings of inline transactions (no busy
        # timeout, no automatic checkpoint) rather than the thread's: switched only
        # when the other side runs next, not around every transaction.
        self._inline_settings = False

    @property
    def target(self) -> str:
        return self.path

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        # In a thread: it may wait a moment for a racing writer's record, and it may
        # create the database (fsyncs); the event loop serves everyone else meanwhile.
        await anyio.to_thread.run_sync(self.lock.acquire)
        try:
            self.thread.start()
            await self.thread.call(self._open)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.close()
            raise

    def _open(self) -> None:
        conn = self._conn = open_write_connection(
            self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout
        )
        migrate(conn, self.spec, self.path)
        row = conn.execute("SELECT value FROM writer_state WHERE key = 'tick_seq'").fetchone()
        self._planned_tick_seq = self._committed_tick_seq = int(row[0]) if row else 1
        self.outbox.load(conn)
        if self.spec.tick_table is not None:
            self.planner.chunk = prepare_tick_statements(
                conn, self.spec.tick_table, self.expected_batch
            )
        self.watch.remember()
        self.wal.open(conn)

    async def close(self) -> None:
        # What is still queued was not acknowledged and never will be (a writer that
        # drained has nothing queued): it must not commit behind its callers' backs.
        self.thread.halt()
        try:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(RuntimeError):  # the thread never started
                    await self.thread.call(self._close)
                await self.thread.stop()
        finally:
            self.lock.release()

    def _connection(self) -> sqlite3.Connection:
        """The connection, in its thread (or inline, while that thread is idle).

        :raises WriterError: if it is closed.
        """
        conn = self._conn
        if conn is None:
            raise WriterError(f"the connection to {self.path} is closed")
        return conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.wal.close(conn)
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ transactions

    def plan(self, messages: Sequence[Message]) -> SqliteTransaction:
        transaction = self.planner.plan(messages, self._planned_tick_seq, self.outbox.planned)
        self._planned_tick_seq = transaction.next_tick_seq
        self.outbox.planned = transaction.next_outbox_seq
        return transaction

    def dead_letters(self, failures: Sequence[tuple[Message, str]]) -> SqliteTransaction:
        rows = dead_letter_rows(failures)
        statements: list[Statement] = [("dead_letters", DEAD_LETTER, rows)]
        statements.extend(relay_cursors([m for m, _ in failures]))
        return SqliteTransaction(
            statements,
            {"dead_letters": len(rows)},
            self._planned_tick_seq,
            self.outbox.planned,
        )

    def submit(self, transaction: Transaction, *, trial: bool = False) -> PendingJob[Job[Any]]:
        if not isinstance(transaction, SqliteTransaction):
            raise TypeError(f"not a transaction of this store: {transaction!r}")
        if (
            not trial
            and self.synchronous in _INLINE_SYNCHRONOUS
            and sum(transaction.rows.values()) <= _INLINE_ROWS
        ):
            done = self.thread.run_inline(partial(self._run_inline, transaction), transaction=True)
            if done is not None and done.result is not False:
                return self._pending(done, trial)
            # Not run (the thread was busy, or another connection holds the write lock:
            # waiting for it is the SQLite thread's job, never the event loop's).
        job = self.thread.submit(partial(self._run, transaction, trial), transaction=True)
        return self._pending(job, trial)

    def _pending(self, job: Job[Any], trial: bool) -> PendingJob[Job[Any]]:
        return PendingJob(
            job, trial, wait=self.thread.wait, rewind=self.rewind, poison_of=poison_of
        )

    def _run_inline(self, transaction: SqliteTransaction) -> bool:
        """:meth:`_run`, in the event loop's thread, if it can start at once; return
        False if another connection holds the write lock (nothing was run). A WAL
        checkpoint is left to the SQLite thread's housekeeping, never run in the loop
        by this commit: inline transactions run with no busy timeout and no automatic
        checkpoint, settings the thread puts back before its next job."""
        conn = self._inline_connection()
        self.watch.check()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return False
        self._run(transaction, False, begun=True)
        self.wal.inline_since += 1
        return True

    def _inline_connection(self) -> sqlite3.Connection:
        """The connection, set for work in the event loop's thread: no busy timeout (a
        lock held elsewhere fails at once, and the work goes to the SQLite thread) and
        no automatic checkpoint."""
        conn = self._connection()
        if not self._inline_settings:
            self._inline_settings = True  # first: what a failed PRAGMA left is put back
            conn.execute("PRAGMA busy_timeout=0")
            if self.wal.autocheckpoint:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _thread_settings(self) -> None:
        """Before a job of the SQLite thread: the busy timeout (and SQLite's automatic
        checkpoint, where it is used) back, if inline transactions turned them off."""
        conn = self._conn
        if self._inline_settings and conn is not None:
            conn.execute(f"PRAGMA busy_timeout={round(self.busy_timeout * 1000)}")
            if self.wal.autocheckpoint:
                conn.execute(f"PRAGMA wal_autocheckpoint={self.wal.autocheckpoint}")
            self._inline_settings = False

    def _inspection_due(self) -> bool:
        return self.wal.due()

    def _inspect_wal(self) -> None:
        self.wal.inspect(self._conn)

    def rewind(self) -> None:
        """Plan the next transaction right after the last committed one."""
        self._planned_tick_seq = self._committed_tick_seq
        self.outbox.planned = self.outbox.next

    def _run(self, transaction: SqliteTransaction, trial: bool, *, begun: bool = False) -> None:
        """Run ``transaction`` in one SQLite transaction, in the connection's thread
        (``begun``: its BEGIN was run already)."""
        conn = self._connection()
        if not begun:
            self.watch.check()  # never write into files that are no longer the database's
            conn.execute("BEGIN IMMEDIATE")
        try:
            for _table, sql, rows in transaction.statements:
                conn.executemany(sql, rows)
            if trial:
                conn.rollback()
                return
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        self._committed_tick_seq = transaction.next_tick_seq
        self.outbox.commit(transaction)

    def classify(self, error: BaseException) -> Fault:
        if isinstance(error, Poison):
            return "poison"
        if isinstance(error, FilesChanged | WriterError):
            return "fatal"
        if not isinstance(error, sqlite3.Error):
            return "bug"  # TypeError, KeyError, ...: of the writer or of its spec
        return "transient" if is_transient(error) else "fatal"

    # ------------------------------------------------------------------ the files

    async def verify(self, holding: int) -> None:
        """Stop if the database, its -wal or its -shm file was deleted or replaced
        (see :meth:`FileWatch.verify`); when the database file itself is still in
        place, every committed transaction is first copied into it from the WAL the
        connection still holds open (:meth:`WalCheckpoints.rescue`).

        :raises WriterError: naming the file, and saying what was saved.
        """
        rescue = partial(self.wal.rescue, self._checkpoint, self.rescue_timeout)
        await self.watch.verify(holding, self.spec.name, rescue)

    def verified(self) -> bool:
        return self.watch.changed() is None

    def _checkpoint(self) -> Checkpoint | None:
        return self.wal.checkpoint(self._conn)

    async def maintain(self) -> None:
        """Nothing to do: the SQLite thread inspects the WAL between transactions."""

    def stop_by(self, deadline: float) -> None:
        """Nothing to bound: the file's own timeouts bound each transaction."""

    def backlog(self) -> int:
        return self.wal.frames

    async def record_dead_letters(self, failures: Sequence[tuple[Message, str]]) -> None:
        """Commit ``failures`` to ``dead_letters`` now, in one transaction between the
        writer's (with the cursor of a relay that delivered them): for what a relay
        could not even publish. Its earlier messages must be committed first."""
        transaction = self.dead_letters(failures)
        await self.thread.call(partial(self._run_alone, transaction))

    def _run_alone(self, transaction: SqliteTransaction) -> None:
        conn = self._connection()
        self.watch.check()
        with conn:  # BEGIN (deferred) ... COMMIT, or ROLLBACK
            conn.execute("BEGIN IMMEDIATE")
            for _table, sql, rows in transaction.statements:
                conn.executemany(sql, rows)

    async def continue_outbox_after(self, position: int) -> None:
        """Make the outbox's next position come after ``position`` (its file was
        restored from an older copy: positions up to there are taken already)."""

        await self.thread.call(lambda: self.outbox.continue_after(self._connection(), position))

    async def trim_outbox(self, database: str, upto: int) -> int:
        """Delete the outbox rows for ``database`` up to position ``upto`` (its relay
        committed them); return how many."""
        return await self.thread.call(lambda: self.outbox.trim(self._connection(), database, upto))

    async def housekeep(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` with the writer's connection in its thread, between two of its
        transactions (maintenance such as a prune step: a transaction of its own, kept
        short, since the next ingest transaction waits behind it); return its result."""

        def run() -> T:
            conn = self._connection()
            self.watch.check()
            try:
                return job(conn)
            finally:
                self._inspect_wal()  # deletes grow the WAL as inserts do

        return await self.thread.call(run)

    def read_now(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any] | None:
        """The rows of one ``SELECT`` on the writer's connection, read at once in this
        thread when the SQLite thread has nothing queued or running (so no transaction
        is open: it sees what is committed, as any reader does); None otherwise, or if
        it could not read now (read elsewhere then).

        For a point read right before a publish: the writer's connection holds the
        pages it just wrote, where another connection must read them again and take
        its locks first (a few system calls, slow on a CPU that was idle).

        :raises ValueError: if ``sql`` is not a ``SELECT``.
        """
        if sql.lstrip()[:6].upper() != "SELECT":
            raise ValueError(f"not a SELECT: {sql[:40]!r}")
        job = self.thread.run_inline(partial(self._read, sql, tuple(parameters)))
        if job is None:
            return None
        if job.error is not None:
            if isinstance(job.error, sqlite3.OperationalError | WriterError):
                return None  # busy, or closed: another reader tells
            raise job.error
        return job.result

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        conn = self._inline_connection()  # never waits on the event loop for a lock
        with contextlib.closing(conn.execute(sql, parameters)) as cursor:
            return cursor.fetchall()

    async def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Run one statement on the writer's connection, between its transactions."""

        def run() -> list[Any]:
            return self._connection().execute(sql, parameters).fetchall()

        return await self.thread.call(run)
