"""The writer of a database kept in PostgreSQL: the generic writer with a
:class:`~writers._pg_store.PostgresStore`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
from anyio.abc import TaskStatus

from eventbus import EventBus, Message

from ._exceptions import InvalidOption
from ._options import check_seconds, check_writer_options
from ._pg_session import check_dsn, redact
from ._pg_store import PostgresStore
from ._specs import DatabaseSpec
from ._sqlite import Synchronous
from ._writer import Writer

__all__ = ["PostgresWriter"]


class PostgresWriter(Writer):
    """Consumes its database's topics from the bus into the PostgreSQL database at
    ``dsn``, one transaction per batch (two in flight), like
    :class:`~writers.WriterActor` does into SQLite; the same options, the same tables.

    ``synchronous``, ``busy_timeout`` and ``switch_interval`` are SQLite's: checked,
    and not used (PostgreSQL's ``synchronous_commit`` is the server's). It forwards
    nothing: a node keeps its outbox in SQLite.

    :param connect_timeout: seconds to wait for a connection.
    :param command_timeout: seconds a statement of a transaction may take before the
        server is taken as gone (the connection is dropped, the batch retried).
    :raises InvalidOption: for an option that is not allowed, or a ``dsn`` that is
        not a PostgreSQL URL naming its database.
    """

    def __init__(
        self,
        bus: EventBus,
        spec: DatabaseSpec,
        dsn: str,
        *,
        role: str = "",
        max_batch: int = 5_000,
        max_delay: float = 0.05,
        synchronous: Synchronous = "NORMAL",
        max_buffer: int = 100_000,
        busy_timeout: float = 5.0,
        max_backoff: float = 2.0,
        drain_timeout: float = 30.0,
        on_commit: Callable[[list[Message], float], None] | None = None,
        switch_interval: float | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 60.0,
        forward: Sequence[DatabaseSpec] = (),
    ) -> None:
        check_writer_options(
            max_batch=max_batch,
            max_delay=max_delay,
            synchronous=synchronous,
            max_buffer=max_buffer,
            busy_timeout=busy_timeout,
            max_backoff=max_backoff,
            drain_timeout=drain_timeout,
            switch_interval=switch_interval,
        )
        check_seconds("connect_timeout", connect_timeout, positive=True)
        if check_seconds("command_timeout", command_timeout, positive=True) < 0.1:
            raise InvalidOption("command_timeout", command_timeout, "a number of seconds >= 0.1")
        try:
            check_dsn(dsn)
        except ValueError as exc:
            raise InvalidOption(
                "dsn", redact(str(dsn)), str(exc).split(" must be ")[-1].split(", got")[0]
            ) from exc
        if forward:
            raise InvalidOption(
                "forward",
                [s.name for s in forward],
                "empty: a PostgreSQL writer keeps no outbox (a node keeps it in SQLite)",
            )
        self.spec = spec
        self.dsn = dsn
        self.role = role
        self.forward: tuple[DatabaseSpec, ...] = ()
        self.pg = PostgresStore(
            spec,
            dsn,
            connect_timeout=connect_timeout,
            resolve_timeout=max(drain_timeout, 1.0),
            command_timeout=command_timeout,
        )
        #: Where it writes, for messages (the URL without its password).
        self.path = self.pg.target
        super().__init__(
            bus,
            self.pg,
            name=spec.name,
            topics=spec.topics,
            tables=spec.tables,
            max_batch=max_batch,
            max_delay=max_delay,
            max_buffer=max_buffer,
            max_backoff=max_backoff,
            drain_timeout=drain_timeout,
            on_commit=on_commit,
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect, take the database's lock, migrate it, then write until stopped.

        :raises WriterLockError: at once, if another writer holds the database.
        :raises WriterError: if the database cannot be reached, migrated or written.
        """
        async with self.pg.running():
            await super().run(task_status=task_status)

    async def cursor_of(self, source: str) -> int:
        """The last position of ``source`` committed in this database (0: none): what
        a relay, or a bridge, resumes after."""
        return await self.pg.cursor_of(source)

    def __repr__(self) -> str:
        return f"<PostgresWriter {self.spec.name} {self.path!r}>"
