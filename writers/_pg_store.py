"""The PostgreSQL store: one PostgreSQL database, written by one writer (see
:class:`~writers._store.Store`).

Transactions run one after the other on the writer's connection, in a task of the
store's own. Ticks go in by binary COPY (their seqs are the store's: a transaction
that is retried writes them again under the same seqs, and a relay's cursor commits
with them); the other events by the statements the PostgreSQL dialect derives from
the mappings.

A lost connection (the server restarted, the network dropped) is a transient fault:
the writer retries the batch, and the store reconnects (taking its lock again).
A connection lost during a COMMIT leaves its outcome unknown: the store reconnects
and reads the commit count the transaction sets, so a transaction is never written
twice and never taken as committed when it was not.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import anyio
import asyncpg
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from eventbus import Message

from ._exceptions import WriterError
from ._pg_errors import is_connection_lost, is_transient, poison_of
from ._pg_plan import PgPlanner, PgTransaction, relay_cursors
from ._pg_rules import COMMIT_COUNT, CURSOR_OF, CURSORS_OF, DEAD_LETTER, DEAD_LETTERS_OF
from ._pg_session import check_dsn, connect, lock_refusal, migrate, redact, take_lock
from ._pg_specs import pg_spec
from ._specs import DatabaseSpec
from ._store import Fault, Poison, Skipped, Transaction, encoded, event_name

__all__ = ["PostgresStore"]

T = TypeVar("T")

logger = logging.getLogger("writers")

#: Seconds a writer waits for the lock of a writer that just died (see ``_lock``).
LOCK_WAIT = 2.0
_STATE = "SELECT key, value FROM writer_state WHERE key IN ('tick_seq', $1)"


class _Job:
    __slots__ = ("done", "error", "function", "generation", "result", "seconds")

    def __init__(self, function: Callable[[], Awaitable[Any]], generation: int | None) -> None:
        self.function = function
        self.generation = generation
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.result: Any = None
        self.seconds = 0.0


class PgPending:
    """A transaction submitted to the store (see :class:`Pending`)."""

    __slots__ = ("job", "store", "trial")

    def __init__(self, store: PostgresStore, job: _Job, trial: bool) -> None:
        self.store = store
        self.job = job
        self.trial = trial

    def done(self) -> bool:
        return self.job.done.is_set()

    def committed(self) -> float | None:
        job = self.job
        if self.trial or not job.done.is_set() or job.error is not None:
            return None
        return job.seconds

    async def outcome(self) -> float:
        try:
            await self.store.wait(self.job)
        except Exception as exc:
            self.store.rewind()
            poison = poison_of(exc)
            if poison is not None:
                raise Poison(poison) from exc
            raise
        if self.trial:
            self.store.rewind()
        return self.job.seconds


class PostgresStore:
    """One PostgreSQL database (``dsn``), written by one writer; see the module.

    :param connect_timeout: seconds to wait for a connection.
    :param resolve_timeout: after a connection lost during a COMMIT, how long to try
        to reconnect to learn whether it committed, before the writer stops.
    """

    def __init__(
        self,
        spec: DatabaseSpec,
        dsn: str,
        *,
        connect_timeout: float = 10.0,
        resolve_timeout: float = 60.0,
    ) -> None:
        self.spec = spec
        self.dsn = check_dsn(dsn)
        self.pg = pg_spec(spec)
        self.connect_timeout = connect_timeout
        self.resolve_timeout = resolve_timeout
        self.planner = PgPlanner(spec, self.pg)
        self._target = f"{redact(dsn)} ({spec.name})"
        self._conn: asyncpg.Connection[Any] | None = None
        self._planned_tick_seq = 1
        self._committed_tick_seq = 1
        self._commits = 0  # the commit count the database holds, as last committed here
        self.generation = 0
        self._halted = -1
        self._send: MemoryObjectSendStream[_Job] | None = None
        self._task_group: TaskGroup | None = None
        self._stopped = anyio.Event()
        self._broken: WriterError | None = None

    @property
    def target(self) -> str:
        return self._target

    # ------------------------------------------------------------------ lifecycle

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """The task group its transactions run in: open and close the store inside
        (a :class:`~writers.PostgresWriter` does)."""
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                try:
                    yield self
                finally:
                    self._task_group = None
                    if self._send is not None:
                        self._send.close()
                        with anyio.CancelScope(shield=True):
                            await self._stopped.wait()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # the body's own error (its task raises none)
                raise group.exceptions[0] from None
            raise

    async def open(self) -> None:
        if self._task_group is None:
            raise WriterError(
                f"open the store of {self.target} inside `async with store.running()`"
            )
        try:
            self._conn = await self._session()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.close()
            raise
        send, receive = anyio.create_memory_object_stream[_Job](math.inf)
        self._send = send
        self._task_group.start_soon(self._serve, receive)

    async def _session(self) -> asyncpg.Connection[Any]:
        """A connection holding the lock, its schema current, the state read.

        :raises WriterLockError: if another writer holds the database.
        :raises WriterError: if it cannot be reached (the cause says why).
        """
        try:
            conn = await connect(self.dsn, self.spec, self.connect_timeout)
        except Exception as exc:
            raise WriterError(
                f"cannot connect to {self.target}: {type(exc).__name__}: {exc}; check that "
                "the server runs and the URL, user and database are right"
            ) from exc
        try:
            await self._lock(conn)
            try:
                await migrate(conn, self.spec, self.pg, self.target)
            except asyncpg.PostgresError as exc:
                raise WriterError(
                    f"cannot bring the schema of {self.target} up to date: "
                    f"{type(exc).__name__}: {exc}; give tradebus an empty database, or one "
                    "only tradebus wrote"
                ) from exc
            await self._read_state(conn)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _close(conn)
            raise
        return conn

    async def _lock(self, conn: asyncpg.Connection[Any]) -> None:
        """Take the database's writer lock for ``conn``'s session. A writer that just
        died may hold it for a moment (until its server notices the connection is
        gone): wait up to ``LOCK_WAIT`` seconds before refusing.

        :raises WriterLockError: naming the session that holds it.
        """
        deadline = anyio.current_time() + LOCK_WAIT
        while not await take_lock(conn, self.target):
            if anyio.current_time() >= deadline:
                raise await lock_refusal(conn, self.target)
            await anyio.sleep(0.05)

    async def _read_state(self, conn: asyncpg.Connection[Any]) -> None:
        state = dict(await conn.fetch(_STATE, COMMIT_COUNT))
        self._planned_tick_seq = self._committed_tick_seq = int(state.get("tick_seq", 1))
        self._commits = int(state.get(COMMIT_COUNT, 0))

    async def close(self) -> None:
        # What is still queued was not acknowledged and never will be: skip it.
        self._halted = math.inf  # type: ignore[assignment]
        with anyio.CancelScope(shield=True):
            if self._send is not None:
                self._send.close()
                await self._stopped.wait()
            conn, self._conn = self._conn, None
            if conn is not None:
                await _close(conn)

    # ------------------------------------------------------------------ the task

    async def _serve(self, receive: MemoryObjectReceiveStream[_Job]) -> None:
        try:
            async with receive:
                try:
                    # Until the store is closed, whatever cancels the writer: a
                    # cancelled writer still commits what it holds (its drain) here.
                    # A transaction being committed cannot be recalled either: it
                    # runs to its end, and its outcome is told.
                    with anyio.CancelScope(shield=True):
                        async for job in receive:
                            await self._serve_one(job)
                finally:
                    # Stopped (or cancelled): what is queued is not run; whoever
                    # waits for it is told.
                    self._halted = math.inf  # type: ignore[assignment]
                    while True:
                        try:
                            left = receive.receive_nowait()
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                        left.error = WriterError(f"not run: the writer of {self.target} stopped")
                        left.done.set()
        finally:
            self._stopped.set()

    async def _serve_one(self, job: _Job) -> None:
        if job.generation is not None and job.generation <= self._halted:
            job.error = Skipped(f"not run: a transaction before it in {self.target} failed")
            job.done.set()
            return
        started = time.perf_counter()
        try:
            job.result = await job.function()
        except Exception as exc:
            job.error = exc
            if job.generation is not None:
                self._halted = job.generation
        job.seconds = time.perf_counter() - started
        job.done.set()

    def _submit(self, function: Callable[[], Awaitable[Any]], generation: int | None) -> _Job:
        if self._send is None or self._stopped.is_set():
            raise WriterError(f"the writer of {self.target} is not open")
        job = _Job(function, generation)
        self._send.send_nowait(job)
        return job

    async def wait(self, job: _Job) -> Any:
        """Wait for ``job`` (not cut short by cancellation); its failure, reported
        here, ends the halt it caused."""
        with anyio.CancelScope(shield=True):
            await job.done.wait()
        if job.error is not None:
            if job.generation is not None and job.generation >= self.generation:
                self.generation = job.generation + 1
            raise job.error
        return job.result

    async def _call(self, function: Callable[[], Awaitable[T]]) -> T:
        result: T = await self.wait(self._submit(function, None))
        return result

    # ------------------------------------------------------------------ transactions

    def plan(self, messages: Sequence[Message]) -> PgTransaction:
        transaction = self.planner.plan(messages, self._planned_tick_seq)
        self._planned_tick_seq = transaction.next_tick_seq
        return transaction

    def dead_letters(self, failures: Sequence[tuple[Message, str]]) -> PgTransaction:
        now = time.time_ns()
        rows = []
        for m, reason in failures:
            data, unencodable = encoded(m)
            origin = cursor = None
            if m.headers is not None and m.headers.cursor is not None:
                origin, cursor = m.headers.origin, m.headers.cursor
            rows.append(
                (m.topic, m.seq, event_name(m), data, reason + unencodable, now, origin, cursor)
            )
        statements = [("dead_letters", DEAD_LETTER, rows), *relay_cursors([m for m, _ in failures])]
        return PgTransaction(statements, {"dead_letters": len(rows)}, self._planned_tick_seq)

    def submit(self, transaction: Transaction, *, trial: bool = False) -> PgPending:
        if not isinstance(transaction, PgTransaction):
            raise TypeError(f"not a transaction of this store: {transaction!r}")
        job = self._submit(lambda: self._run(transaction, trial), self.generation)
        return PgPending(self, job, trial)

    def rewind(self) -> None:
        """Plan the next transaction right after the last committed one."""
        self._planned_tick_seq = self._committed_tick_seq

    async def _connection(self) -> asyncpg.Connection[Any]:
        if self._broken is not None:
            raise self._broken
        conn = self._conn
        if conn is None or conn.is_closed():
            self._conn = None
            conn = self._conn = await self._reconnect()
        return conn

    async def _reconnect(self) -> asyncpg.Connection[Any]:
        """A new session after the connection was lost: the same database, still
        as this writer left it (else the writer stops)."""
        commits = self._commits
        try:
            conn = await connect(self.dsn, self.spec, self.connect_timeout)
        except Exception:
            raise  # transient: the writer retries with backoff
        try:
            await self._lock(conn)
            state = dict(await conn.fetch(_STATE, COMMIT_COUNT))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _close(conn)
            raise
        # What was planned since the last commit stays planned: the state is only read.
        found = int(state.get(COMMIT_COUNT, 0))
        if found != commits:
            self._broken = WriterError(
                f"{self.target} was written by another writer while this one's connection "
                f"was lost (it holds {found} commits, this writer made {commits}): "
                "stopping; restart the writer"
            )
            await _close(conn)
            raise self._broken
        logger.warning("writer %s: reconnected to %s", self.spec.name, self.target)
        return conn

    async def _run(self, transaction: PgTransaction, trial: bool) -> None:
        conn = await self._connection()
        commits = self._commits + 1
        committing = False
        try:
            await conn.execute(transaction.begin(commits))
            if transaction.ticks:
                await conn.copy_records_to_table(
                    transaction.tick_table or "",
                    records=transaction.ticks,
                    columns=self.planner.tick_columns,
                )
            for _table, sql, rows in transaction.statements:
                if rows:
                    await conn.executemany(sql, rows)
            if trial:
                await conn.execute("ROLLBACK")
                return
            committing = True
            await conn.execute("COMMIT")
        except Exception as exc:
            if committing and is_connection_lost(exc, conn):
                conn.terminate()
                if not await self._resolve(commits, exc):
                    raise
            else:
                await self._abandon(conn, exc)
                raise
        self._commits = commits
        self._committed_tick_seq = transaction.next_tick_seq

    async def _abandon(self, conn: asyncpg.Connection[Any], error: Exception) -> None:
        """Roll back what failed; a connection that cannot, or that a fault of the
        connection hit, is dropped (the next transaction reconnects)."""
        if conn.is_closed() or is_connection_lost(error, conn):
            self._conn = None
            conn.terminate()
            return
        try:
            await conn.execute("ROLLBACK")
        except Exception:
            self._conn = None
            await _close(conn)

    async def _resolve(self, commits: int, error: Exception) -> bool:
        """Whether the transaction whose COMMIT lost its connection committed: read
        from a new session (trying for up to ``resolve_timeout``).

        :raises WriterError: if it cannot be learned in time.
        """
        self._conn = None
        deadline = anyio.current_time() + self.resolve_timeout
        pause = 0.05
        while True:
            try:
                conn = await connect(self.dsn, self.spec, self.connect_timeout)
                try:
                    await self._lock(conn)
                    state = dict(await conn.fetch(_STATE, COMMIT_COUNT))
                except BaseException:
                    await _close(conn)
                    raise
                break
            except Exception as exc:
                if not is_transient(exc) or anyio.current_time() >= deadline:
                    self._broken = WriterError(
                        f"the connection to {self.target} was lost during a COMMIT "
                        f"({type(error).__name__}: {error}), and whether it committed could "
                        f"not be learned ({type(exc).__name__}: {exc}): stopping; restart "
                        "the writer (what was acknowledged before is stored)"
                    )
                    raise self._broken from exc
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)
        found = int(state.get(COMMIT_COUNT, 0))
        if found not in (commits, commits - 1):
            await _close(conn)
            self._broken = WriterError(
                f"{self.target} holds {found} commits, expected {commits - 1} or {commits}: "
                "another writer wrote it meanwhile; stopping"
            )
            raise self._broken
        self._conn = conn
        logger.warning(
            "writer %s: reconnected to %s after a lost COMMIT (%s)",
            self.spec.name,
            self.target,
            "it committed" if found == commits else "it did not commit: retried",
        )
        return found == commits

    def classify(self, error: BaseException) -> Fault:
        if isinstance(error, Poison):
            return "poison"
        if isinstance(error, WriterError):
            return "fatal"
        if is_transient(error):
            return "transient"
        if isinstance(error, asyncpg.PostgresError):
            code = str(getattr(error, "sqlstate", "") or "")
            return "bug" if code.startswith("42") else "fatal"
        return "bug"

    async def verify(self, holding: int) -> None:
        if self._broken is not None:
            raise WriterError(f"{self._broken} ({holding} events held are not acknowledged)")

    def verified(self) -> bool:
        return self._broken is None

    async def maintain(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum keeps the tables."""

    def backlog(self) -> int:
        return 0

    # ------------------------------------------------------------------ others' calls

    async def record_dead_letters(self, failures: Sequence[tuple[Message, str]]) -> None:
        """Commit ``failures`` to ``dead_letters`` now, between the writer's
        transactions (with the cursor of a relay that delivered them)."""
        transaction = self.dead_letters(failures)
        await self._call(lambda: self._run(transaction, False))

    async def cursor_of(self, source: str) -> int:
        """The last position of ``source`` (an outbox, a stream) committed here (0: none)."""

        async def run() -> int:
            conn = await self._connection()
            value = await conn.fetchval(CURSOR_OF, source)
            return 0 if value is None else int(value)

        return await self._call(run)

    async def cursors_of(self, source: str) -> dict[str, int]:
        """The cursors committed here of ``source`` and of its parts
        (``<source>@<part>``: a bridge's lanes), by source."""

        async def run() -> dict[str, int]:
            conn = await self._connection()
            return {str(s): int(c) for s, c in await conn.fetch(CURSORS_OF, source)}

        return await self._call(run)

    async def dead_letters_of(
        self, source: str, after: int, upto: int
    ) -> list[tuple[int, str, str]]:
        """(position, event type, error) of each event of ``source`` between ``after``
        (excluded) and ``upto`` that could not be stored."""

        async def run() -> list[tuple[int, str, str]]:
            conn = await self._connection()
            rows = await conn.fetch(DEAD_LETTERS_OF, source, after, upto)
            return [(int(c), str(t), str(e)) for c, t, e in rows]

        return await self._call(run)

    async def query(self, sql: str, *parameters: Any) -> list[Any]:
        """Run one statement on the writer's connection, between its transactions."""

        async def run() -> list[Any]:
            conn = await self._connection()
            return list(await conn.fetch(sql, *parameters))

        return await self._call(run)


async def _close(conn: asyncpg.Connection[Any]) -> None:
    try:
        with anyio.fail_after(5):
            await conn.close()
    except Exception:
        conn.terminate()
