"""The PostgreSQL store: one PostgreSQL database, written by one writer (see
:class:`~writers._store.Store`).

Transactions run one after the other on the writer's connection, in a task of the
store's own. A transaction sets the writer's state (its commit number, the tick seq)
in the round trip of its COMMIT; when the next transaction is already queued, its
BEGIN goes in that round trip too (one round trip fewer each while ingest is busy).
Ticks go in by binary COPY (their seqs are the store's: a transaction that is
retried writes them again under the same seqs, and a relay's cursor commits with
them); the other events by the statements the PostgreSQL dialect derives from the
mappings.

A lost connection (the server restarted, the network dropped) is a transient fault:
the writer retries the batch, and the store reconnects (taking its lock again).
A connection lost during a COMMIT leaves its outcome unknown: the store reconnects
and reads the commit count the transaction sets, so a transaction is never written
twice and never taken as committed when it was not.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Self

import anyio
import asyncpg
from anyio.abc import TaskGroup

from eventbus import Message

from ._exceptions import WriterError
from ._pending import PendingJob
from ._pg_errors import is_connection_lost, is_transient, poison_of
from ._pg_jobs import Job, JobQueue
from ._pg_link import PgLink, close_quietly
from ._pg_plan import PgPlanner, PgTransaction, relay_cursors
from ._pg_rules import COMMIT_COUNT, CURSOR_OF, CURSORS_OF, DEAD_LETTER, DEAD_LETTERS_OF
from ._pg_session import check_dsn, redact
from ._pg_specs import pg_spec
from ._specs import DatabaseSpec
from ._store import Fault, Poison, Transaction, dead_letter_rows

__all__ = ["PostgresStore"]

logger = logging.getLogger("writers")


class PostgresStore:
    """One PostgreSQL database (``dsn``), written by one writer; see the module.

    :param connect_timeout: seconds to wait for a connection.
    :param resolve_timeout: after a connection lost during a COMMIT, how long to try
        to reconnect to learn whether it committed, before the writer stops.
    :param command_timeout: seconds a statement may take: past it the connection is
        taken as lost (a server that stopped answering), and the transaction is
        retried on a new one (a COMMIT's outcome is then resolved as after a lost
        connection). Once the writer must stop by a deadline (its drain), what runs
        past the deadline is dropped.
    """

    #: Its transactions run in a task on the event loop.
    runs_off_loop = False

    def __init__(
        self,
        spec: DatabaseSpec,
        dsn: str,
        *,
        connect_timeout: float = 10.0,
        resolve_timeout: float = 60.0,
        command_timeout: float = 60.0,
    ) -> None:
        self.spec = spec
        self.dsn = check_dsn(dsn)
        self.pg = pg_spec(spec)
        self.resolve_timeout = resolve_timeout
        self.planner = PgPlanner(spec, self.pg)
        self._target = f"{redact(dsn)} ({spec.name})"
        self.link = PgLink(
            spec,
            self.dsn,
            self._target,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        self.jobs = JobQueue(self._target)
        self._conn: asyncpg.Connection[Any] | None = None
        self._planned_tick_seq = 1
        self._committed_tick_seq = 1
        self._commits = 0  # the commit count the database holds, as last committed here
        #: The connection on which a transaction was begun for the next job.
        self._begun_on: asyncpg.Connection[Any] | None = None
        self._task_group: TaskGroup | None = None
        self._serving = False
        self._watch = anyio.CancelScope()

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
                    self._watch.cancel()
                    self.jobs.halt()
                    if self._serving:
                        with anyio.CancelScope(shield=True):
                            await self.jobs.stopped.wait()
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
            self._conn, state = await self.link.session(self.pg)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.close()
            raise
        self._planned_tick_seq = self._committed_tick_seq = state.get("tick_seq", 1)
        self._commits = state.get(COMMIT_COUNT, 0)
        self._serving = True
        self._task_group.start_soon(self.jobs.serve)

    def stop_by(self, deadline: float) -> None:
        """The writer stops by ``deadline`` (anyio's clock): from now on statements
        are bounded by it, and one still running then is dropped with its
        connection (its transaction is not acknowledged)."""
        if deadline >= self.link.deadline or self._task_group is None:
            return
        self.link.deadline = deadline
        self._watch.cancel()
        self._watch = anyio.CancelScope()
        self._task_group.start_soon(self._drop_at, self._watch, deadline)

    async def _drop_at(self, scope: anyio.CancelScope, deadline: float) -> None:
        # Shielded from the writer's cancellation (its drain is why it runs); its own
        # scope is cancelled by a nearer deadline, or when the store closes.
        with anyio.CancelScope(shield=True), scope:
            await anyio.sleep_until(deadline + 0.25)
            conn = self._conn
            if self.jobs.running is not None and conn is not None:
                logger.warning(
                    "writer %s: dropping what still runs on %s", self.spec.name, self.target
                )
                self._drop(conn)

    async def close(self) -> None:
        # What is still queued was not acknowledged and never will be: skip it; what
        # still runs is cut short.
        self.link.deadline = min(self.link.deadline, anyio.current_time())
        self._watch.cancel()
        with anyio.CancelScope(shield=True):
            self.jobs.halt()
            conn = self._conn
            if self.jobs.running is not None and conn is not None:
                self.link.drop(conn)
            if self._serving:
                await self.jobs.stopped.wait()
            conn, self._conn = self._conn, None
            if conn is not None:
                await close_quietly(conn)

    # ------------------------------------------------------------------ transactions

    def plan(self, messages: Sequence[Message]) -> PgTransaction:
        transaction = self.planner.plan(messages, self._planned_tick_seq)
        self._planned_tick_seq = transaction.next_tick_seq
        return transaction

    def dead_letters(self, failures: Sequence[tuple[Message, str]]) -> PgTransaction:
        rows = dead_letter_rows(failures)
        statements = [("dead_letters", DEAD_LETTER, rows), *relay_cursors([m for m, _ in failures])]
        return PgTransaction(statements, {"dead_letters": len(rows)}, self._planned_tick_seq)

    def submit(self, transaction: Transaction, *, trial: bool = False) -> PendingJob[Job]:
        if not isinstance(transaction, PgTransaction):
            raise TypeError(f"not a transaction of this store: {transaction!r}")
        job = self.jobs.submit(
            lambda: self._run(transaction, trial), self.jobs.generation, transaction=True
        )
        return PendingJob(job, trial, wait=self.jobs.wait, rewind=self.rewind, poison_of=poison_of)

    def rewind(self) -> None:
        """Plan the next transaction right after the last committed one."""
        self._planned_tick_seq = self._committed_tick_seq

    async def _connection(self, *, for_transaction: bool = False) -> asyncpg.Connection[Any]:
        """The writer's connection; outside a transaction unless ``for_transaction``
        (then maybe in one begun for it: see :meth:`_begin`)."""
        if self.link.broken is not None:
            raise self.link.broken
        conn = self._conn
        if conn is None or conn.is_closed():
            self._conn = None
            # What was planned since the last commit stays planned.
            conn = await self.link.reopen(self._commits)
            self._conn = conn
        begun, self._begun_on = self._begun_on, None
        if for_transaction:
            self._begun_on = begun
        elif begun is not None and begun is conn:
            await begun.execute("ROLLBACK", timeout=self.link.timeout())  # nothing ran in it
        return conn

    async def _begin(self, conn: asyncpg.Connection[Any]) -> None:
        """Start a transaction on ``conn``, unless the last COMMIT began it."""
        if self._begun_on is conn:
            self._begun_on = None
            return
        self._begun_on = None
        await conn.execute("BEGIN", timeout=self.link.timeout())

    async def _run(self, transaction: PgTransaction, trial: bool) -> None:
        conn = await self._connection(for_transaction=True)
        commits = self._commits + 1
        committing = False
        timeout = self.link.timeout
        try:
            await self._begin(conn)
            if transaction.ticks:
                await conn.copy_records_to_table(
                    transaction.tick_table or "",
                    records=transaction.ticks,
                    columns=self.planner.tick_columns,
                    timeout=timeout(),
                )
            for _table, sql, rows in transaction.statements:
                if rows:
                    await conn.executemany(sql, rows, timeout=timeout())
            if trial:
                await conn.execute("ROLLBACK", timeout=timeout())
                return
            committing = True
            then_begin = self.jobs.next_is_transaction()
            finish = transaction.finish(commits, then_begin=then_begin)
            await conn.execute(finish, timeout=timeout())
            if then_begin:
                self._begun_on = conn
        except Exception as exc:
            if committing and is_connection_lost(exc, conn):
                self._drop(conn)
                self._conn, committed = await self.link.resolve(commits, exc, self.resolve_timeout)
                if not committed:
                    raise
            else:
                await self._abandon(conn, exc)
                raise
        self._commits = commits
        self._committed_tick_seq = transaction.next_tick_seq

    def _drop(self, conn: asyncpg.Connection[Any]) -> None:
        if self._conn is conn:
            self._conn = None
        self.link.drop(conn)

    async def _abandon(self, conn: asyncpg.Connection[Any], error: Exception) -> None:
        """Roll back what failed; a connection that cannot, or that a fault of the
        connection hit, is dropped (the next transaction reconnects)."""
        if conn.is_closed() or is_connection_lost(error, conn):
            self._drop(conn)
            return
        try:
            await conn.execute("ROLLBACK", timeout=self.link.timeout())
        except Exception:  # one that cannot roll back is dropped
            self._drop(conn)

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
        if self.link.broken is not None:
            raise WriterError(f"{self.link.broken} ({holding} events held are not acknowledged)")

    def verified(self) -> bool:
        return self.link.broken is None

    async def maintain(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum keeps the tables."""

    def backlog(self) -> int:
        return 0

    # ------------------------------------------------------------------ others' calls

    async def record_dead_letters(self, failures: Sequence[tuple[Message, str]]) -> None:
        """Commit ``failures`` to ``dead_letters`` now, between the writer's
        transactions (with the cursor of a relay that delivered them)."""
        transaction = self.dead_letters(failures)
        job = self.jobs.submit(lambda: self._run(transaction, False), None, transaction=True)
        await self.jobs.wait(job)

    async def cursor_of(self, source: str) -> int:
        """The last position of ``source`` (an outbox, a stream) committed here (0: none).

        :raises WriterError: if the server cannot be reached or does not answer.
        """
        value = await self._read("reading a cursor", CURSOR_OF, source)
        return 0 if not value or value[0][0] is None else int(value[0][0])

    async def cursors_of(self, source: str) -> dict[str, int]:
        """The cursors committed here of ``source`` and of its parts
        (``<source>@<part>``: a bridge's lanes), by source."""
        rows = await self._read("reading cursors", CURSORS_OF, source)
        return {str(s): int(c) for s, c in rows}

    async def dead_letters_of(
        self, source: str, after: int, upto: int
    ) -> list[tuple[int, str, str]]:
        """(position, event type, error) of each event of ``source`` between ``after``
        (excluded) and ``upto`` that could not be stored."""
        rows = await self._read("reading dead letters", DEAD_LETTERS_OF, source, after, upto)
        return [(int(c), str(t), str(e)) for c, t, e in rows]

    async def query(self, sql: str, *parameters: Any) -> list[Any]:
        """Run one statement on the writer's connection, between its transactions."""
        return await self._read("running a query", sql, *parameters)

    async def _read(self, doing: str, sql: str, *parameters: Any) -> list[Any]:
        """The rows of ``sql``, run between the writer's transactions within the
        statement bound; a connection it could not use is dropped.

        :raises WriterError: if the server cannot be reached or does not answer.
        """

        async def run() -> list[Any]:
            conn = await self._connection()
            try:
                return list(await conn.fetch(sql, *parameters, timeout=self.link.timeout()))
            except Exception as exc:
                if conn.is_closed() or is_connection_lost(exc, conn):
                    self._drop(conn)
                raise

        try:
            rows: list[Any] = await self.jobs.call(run)
        except WriterError:
            raise
        except (OSError, TimeoutError, asyncpg.PostgresConnectionError) as exc:
            raise self.link.refused(exc, doing) from exc
        except asyncpg.InterfaceError as exc:
            raise self.link.refused(exc, doing) from exc
        return rows
