"""The writer actor: the only writer of one SQLite database file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus

from eventbus import EventBus, Message

from ._gil import DEFAULT_SWITCH_INTERVAL, shortened_switch_interval
from ._options import check_writer_options
from ._specs import DatabaseSpec
from ._sqlite import Synchronous
from ._sqlite_store import SqliteStore
from ._writer import Writer
from ._writer_stats import WriterStatistics

__all__ = ["WriterActor", "WriterStatistics"]


class WriterActor(Writer):
    """Consumes its database's topics from the bus in batches; one transaction each.

    Use as ``async with WriterActor(bus, MAIN, path)`` or start it in a task group
    with ``await tg.start(actor.run)``: it is ready once it holds the lock, the schema
    is migrated and it is subscribed. While one batch commits, the next is planned
    and submitted (two transactions in flight); each is acknowledged after its own
    commit, in order.

    :param role: recorded in the lock file, so that a refused writer is told who holds it.
    :param max_batch: commit when this many events are pending...
    :param max_delay: ... or when the oldest pending event is old enough to be
        committed this long (s) after its publish: it may wait ``max_delay`` less what
        a batch takes from its cut to its acknowledgement (a moving average of the
        recent batches, plus their average deviation from it) and a millisecond of
        timer slack, never less than half of
        ``max_delay`` (nor, before the first commit, more). So ``max_delay`` bounds
        publish-to-commit, even with no more traffic. A waiter cuts the batch at once.
    :param synchronous: ``PRAGMA synchronous``: NORMAL (an app crash loses nothing
        committed; a power loss may lose the last commits) or FULL.
    :param max_buffer: how many events may wait for this writer before publishers
        feel backpressure.
    :param on_commit: called after each commit with the events it committed (a batch, or
        a part of one bisected around an event that went to dead_letters; never the
        events moved there) and the monotonic time, in the writer's task or, when a
        producer does not yield, inside a publish of the writer's topics (the one
        that found the commit done). What it raises is logged and changes nothing:
        the events are stored and acknowledged.
    :param switch_interval: while the writer runs, the interpreter's thread switch
        interval (``sys.setswitchinterval``) is at most this many seconds, so that the
        SQLite thread wins the GIL back from a busy event loop after each statement
        (CPython's 5 ms default starves it: a statement's end waits up to 5 ms for the
        GIL, a few times per transaction); the previous value is restored when the
        last writer stops. ``None`` leaves the interval alone.
    """

    def __init__(
        self,
        bus: EventBus,
        spec: DatabaseSpec,
        path: str | os.PathLike[str],
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
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL,
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
        self.spec = spec
        self.path = os.fspath(path)
        self.role = role
        self.synchronous: Synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.switch_interval = switch_interval
        self.sqlite = SqliteStore(
            spec,
            self.path,
            role=role,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            rescue_timeout=drain_timeout,
            expected_batch=max_batch,
            forward=forward,
        )
        self.forward = tuple(forward)
        super().__init__(
            bus,
            self.sqlite,
            name=spec.name,
            topics=(*spec.topics, *(t for other in self.forward for t in other.topics)),
            tables=spec.tables,
            max_batch=max_batch,
            max_delay=max_delay,
            max_buffer=max_buffer,
            max_backoff=max_backoff,
            drain_timeout=drain_timeout,
            on_commit=on_commit,
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Take the lock, open and migrate the database, then write until stopped.

        :raises WriterLockError: at once, if another writer holds the database.
        :raises WriterError: if the database cannot be opened, migrated or written.
        """
        with shortened_switch_interval(self.switch_interval):
            await super().run(task_status=task_status)

    def read_now(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any] | None:
        """The rows of one ``SELECT`` (a point read of what is committed) through the
        writer's own connection, in the calling thread, if the writer's SQLite thread
        is idle now; None if not (then read through a reader).

        :raises ValueError: if ``sql`` is not a ``SELECT``.
        """
        return self.sqlite.read_now(sql, parameters)

    def __repr__(self) -> str:
        return f"<WriterActor {self.spec.name} {self.path!r}>"
