"""The PostgreSQL store's link to its server: connecting and taking the writer's
lock, the bound on each statement, and dropping a connection that failed.

A statement may take ``command_timeout`` seconds; once the writer must stop by a
deadline (its drain), no longer than what is left of it. A connection the store
dropped may live on in the server for a while (a backend still waiting for a lock,
or for a reply that will never come) holding the writer's lock: a new session ends
that old one before it takes the lock again.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import anyio
import asyncpg

from ._exceptions import WriterError, error_text
from ._pg_errors import is_transient
from ._pg_rules import COMMIT_COUNT
from ._pg_session import connect, lock_holder, lock_refusal, migrate, take_lock
from ._pg_specs import PgSpec
from ._specs import DatabaseSpec

__all__ = ["LOCK_WAIT", "PgLink", "close_quietly"]

logger = logging.getLogger("writers")

#: Seconds a writer waits for the lock of a writer that just died (see ``lock``).
LOCK_WAIT = 2.0
#: The least time a statement is given, even past the deadline.
_LEAST = 0.05
_STATE = "SELECT key, value FROM writer_state WHERE key IN ('tick_seq', $1)"


class PgLink:
    """How one store reaches its database (``dsn``; ``target`` names it in
    messages)."""

    def __init__(
        self,
        spec: DatabaseSpec,
        dsn: str,
        target: str,
        *,
        connect_timeout: float,
        command_timeout: float,
    ) -> None:
        self.spec = spec
        self.dsn = dsn
        self.target = target
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        #: When the writer must be stopped by (anyio's clock); inf while it runs.
        self.deadline = math.inf
        self._dropped: int | None = None  # the server pid of the session last dropped
        #: Set when the database is no longer as this writer left it, or a COMMIT's
        #: outcome could not be learned: the writer stops.
        self.broken: WriterError | None = None

    def timeout(self) -> float:
        """Seconds the next statement may take."""
        left = self.deadline - anyio.current_time()
        return max(_LEAST, min(self.command_timeout, left))

    def past_deadline(self) -> bool:
        return anyio.current_time() >= self.deadline

    async def connect(self) -> asyncpg.Connection[Any]:
        """A new connection holding the writer's lock.

        :raises WriterLockError: if another session holds it.
        """
        timeout = max(_LEAST, min(self.connect_timeout, self.deadline - anyio.current_time()))
        conn = await connect(self.dsn, self.spec, timeout)
        try:
            await self.lock(conn)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await close_quietly(conn)
            raise
        return conn

    async def lock(self, conn: asyncpg.Connection[Any]) -> None:
        """Take the database's writer lock for ``conn``'s session. A writer that just
        died may hold it for a moment (until its server notices the connection is
        gone), and so may this writer's own dropped session: end that one, and wait
        up to ``LOCK_WAIT`` seconds before refusing.

        :raises WriterLockError: naming the session that holds it.
        """
        deadline = anyio.current_time() + LOCK_WAIT
        ended = False
        while not await take_lock(conn, self.target, self.timeout()):
            holder = await lock_holder(conn, self.timeout())
            if not ended and holder is not None and holder == self._dropped:
                ended = True
                logger.warning(
                    "writer %s: ending its own earlier session (server pid %d) on %s",
                    self.spec.name,
                    holder,
                    self.target,
                )
                await conn.execute(
                    "SELECT pg_terminate_backend($1)", holder, timeout=self.timeout()
                )
            if anyio.current_time() >= deadline:
                if holder is not None and holder == self._dropped:
                    raise WriterError(
                        f"{self.target}: this writer's own earlier session (server pid "
                        f"{holder}), dropped when the server stopped answering, still holds "
                        "the writer's lock and does not end: stopping"
                    )
                raise await lock_refusal(conn, self.target)
            await anyio.sleep(0.05)
        self._dropped = None

    async def session(self, pg: PgSpec) -> tuple[asyncpg.Connection[Any], dict[str, int]]:
        """A connection holding the lock, its schema current; the writer's state.

        :raises WriterLockError: if another writer holds the database.
        :raises WriterError: if it cannot be reached (the cause says why).
        """
        try:
            conn = await self.connect()
        except WriterError:
            raise
        except Exception as exc:
            raise WriterError(
                f"cannot connect to {self.target}: {error_text(exc)}; check that "
                "the server runs and the URL, user and database are right"
            ) from exc
        try:
            try:
                with anyio.fail_after(self.command_timeout):
                    await migrate(conn, self.spec, pg, self.target)
            except asyncpg.PostgresError as exc:
                raise WriterError(
                    f"cannot bring the schema of {self.target} up to date: "
                    f"{error_text(exc)}; give tradebus an empty database, or one "
                    "only tradebus wrote"
                ) from exc
            except TimeoutError as exc:
                raise self.refused(exc, "bringing its schema up to date") from exc
            try:
                state = await self.state(conn)
            except TimeoutError as exc:
                raise self.refused(exc, "reading the writer's state") from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await close_quietly(conn)
            raise
        return conn, state

    async def state(self, conn: asyncpg.Connection[Any]) -> dict[str, int]:
        """The writer's state as the database holds it (its commit count, tick seq)."""
        rows = await conn.fetch(_STATE, COMMIT_COUNT, timeout=self.timeout())
        return {str(key): int(value) for key, value in rows}

    async def _commits_seen(self) -> tuple[asyncpg.Connection[Any], int]:
        """A new session holding the lock, and the commit count the database holds."""
        conn = await self.connect()
        try:
            return conn, (await self.state(conn)).get(COMMIT_COUNT, 0)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await close_quietly(conn)
            raise

    async def reopen(self, commits: int) -> asyncpg.Connection[Any]:
        """A new session after the connection was lost: the same database, still as
        this writer left it (``commits`` commits; else the writer stops).

        :raises WriterError: if another writer wrote it meanwhile.
        """
        conn, found = await self._commits_seen()  # a failure is transient: retried
        if found != commits:
            self.broken = WriterError(
                f"{self.target} was written by another writer while this one's connection "
                f"was lost (it holds {found} commits, this writer made {commits}): "
                "stopping; restart the writer"
            )
            await close_quietly(conn)
            raise self.broken
        logger.warning("writer %s: reconnected to %s", self.spec.name, self.target)
        return conn

    async def resolve(
        self, commits: int, error: Exception, resolve_timeout: float
    ) -> tuple[asyncpg.Connection[Any], bool]:
        """After the connection was lost during the COMMIT of the ``commits``-th
        transaction: a new session, and whether that transaction committed (read
        from it, trying for up to ``resolve_timeout``, not past the deadline).

        :raises WriterError: if it cannot be learned in time.
        """
        deadline = min(anyio.current_time() + resolve_timeout, self.deadline)
        pause = 0.05
        while True:
            try:
                conn, found = await self._commits_seen()
                break
            except Exception as exc:
                if not is_transient(exc) or anyio.current_time() >= deadline:
                    self.broken = WriterError(
                        f"the connection to {self.target} was lost during a COMMIT "
                        f"({error_text(error)}), and whether it committed could "
                        f"not be learned ({error_text(exc)}): stopping; restart "
                        "the writer (what was acknowledged before is stored)"
                    )
                    raise self.broken from exc
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)
        if found not in (commits, commits - 1):
            await close_quietly(conn)
            self.broken = WriterError(
                f"{self.target} holds {found} commits, expected {commits - 1} or {commits}: "
                "another writer wrote it meanwhile; stopping"
            )
            raise self.broken
        logger.warning(
            "writer %s: reconnected to %s after a lost COMMIT (%s)",
            self.spec.name,
            self.target,
            "it committed" if found == commits else "it did not commit: retried",
        )
        return conn, found == commits

    def drop(self, conn: asyncpg.Connection[Any]) -> None:
        """Drop ``conn`` at once (a fault hit it, or its statement is abandoned)."""
        if not conn.is_closed():
            try:
                self._dropped = conn.get_server_pid()
            except Exception:  # the pid is only a help
                self._dropped = None
        conn.terminate()

    def refused(self, exc: BaseException, doing: str) -> WriterError:
        """The error saying that ``doing`` failed on the server with ``exc``."""
        if isinstance(exc, TimeoutError):
            return WriterError(
                f"{self.target} did not answer within {self.command_timeout:g} s while "
                f"{doing}: check the server (and locks held on tradebus's tables)"
            )
        return WriterError(f"{doing} on {self.target} failed: {error_text(exc)}")


async def close_quietly(conn: asyncpg.Connection[Any]) -> None:
    """Close ``conn`` politely if it answers within 5 s; else drop it."""
    try:
        with anyio.fail_after(5):
            await conn.close()
    except Exception:  # closing: a dead connection is dropped
        conn.terminate()
