"""The heartbeat of a node into ``shared_memory.json``."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from ._status import (
    STALE_AFTER,
    STATUS_FILENAME,
    ProcessState,
    ProcessStatus,
    RelayLag,
    WriterHealth,
    this_host,
)
from ._status_file import LOCK_TIMEOUT, update_status

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["StatusReporter", "process_status"]

logger = logging.getLogger("tradebus")


class StatusReporter:
    """Keep this process's entry in ``node.data_dir / "shared_memory.json"`` current.

    ``async with StatusReporter(node): ...``: on enter it writes the entry (state
    ``running``: roles, pid, host, start time, and the node's counters), then again
    every ``interval`` seconds from a task of its own; on exit it writes it a last
    time as ``stopped`` (with the error that ended the block, if one did).
    :meth:`stopping` marks it ``stopping`` (a node that drains) at once.

    The file is written in a worker thread (the lock is never waited for on the
    event loop); a write that fails (the lock held too long, a full disk, a file of
    a newer tradebus) is logged once, skipped, and tried again at the next beat: it
    never stops the node.

    :param interval: seconds between heartbeats (> 0). Readers count the process
        dead after ``max(5, 3 x interval)`` seconds without one.
    :param lock_timeout: seconds a write waits for the file's lock at most.
    """

    def __init__(
        self, node: Node, *, interval: float = 1.0, lock_timeout: float = LOCK_TIMEOUT
    ) -> None:
        for name, value in (("interval", interval), ("lock_timeout", lock_timeout)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 < value < math.inf)
            ):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        self.node = node
        self.interval = float(interval)
        self.lock_timeout = float(lock_timeout)
        self.path: Path = Path(node.data_dir) / STATUS_FILENAME
        #: This run's id in the file (``"host:pid:started"``), set on enter.
        self.id = ""
        #: How many times the entry was written (a skipped beat is not counted).
        self.writes = 0
        #: The address of the HTTP API the process serves, written into its entry.
        self.http: str | None = None
        self._host = this_host()
        self._pid = 0
        self._started = 0
        self._state: ProcessState = "running"
        self._error: str | None = None
        self._failing: str | None = None
        self._wake = anyio.Event()
        self._limiter = anyio.CapacityLimiter(1)
        self._task_group: TaskGroup | None = None

    async def __aenter__(self) -> Self:
        if self._task_group is not None or self.id:
            raise RuntimeError("a StatusReporter can be entered only once")
        self._pid = os.getpid()
        self._started = time.time_ns()
        self.id = f"{self._host}:{self._pid}:{self._started}"
        await self._write()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        task_group.start_soon(self._beat)
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        if isinstance(exc, Exception):  # not a cancellation, Ctrl-C or sys.exit()
            self._error = f"{type(exc).__name__}: {exc}"
        self._state = "stopped"
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._write()

    def refresh(self) -> None:
        """Write the entry at once (not at the next beat): something in it changed."""
        self._wake.set()

    def stopping(self) -> None:
        """Say that the process is stopping (draining): written at once."""
        if self._state == "running":
            self._state = "stopping"
            self._wake.set()

    async def _beat(self) -> None:
        while True:
            with anyio.move_on_after(self.interval):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = anyio.Event()
            await self._write()

    async def _write(self) -> None:
        try:
            entry = process_status(
                self.node,
                id=self.id,
                host=self._host,
                pid=self._pid,
                started=self._started,
                state=self._state,
                interval=self.interval,
                error=self._error,
                http=self.http if self._state == "running" else None,
            )
            await anyio.to_thread.run_sync(
                lambda: update_status(self.node.data_dir, entry, lock_timeout=self.lock_timeout),
                limiter=self._limiter,
            )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message != self._failing:
                logger.warning(
                    "cannot update the status file %s: %s; the node goes on, and tries "
                    "again at its next heartbeat",
                    self.path,
                    message,
                )
            self._failing = message
        else:
            self.writes += 1
            if self._failing is not None:
                logger.info("the status file %s is updated again", self.path)
                self._failing = None

    def __repr__(self) -> str:
        return f"<StatusReporter {self.id or 'not started'} {self._state}>"


def process_status(
    node: Node,
    *,
    id: str,
    host: str,
    pid: int,
    started: int,
    state: ProcessState,
    interval: float,
    error: str | None = None,
    http: str | None = None,
) -> ProcessStatus:
    """``node``'s entry now (its counters from :meth:`Node.statistics`)."""
    stats = node.statistics()
    writers = {
        name: WriterHealth(
            state="ok" if w.last_error is None else "retrying",
            events=w.events,
            rows=sum(w.rows.values()),
            pending=w.pending,
            retries=w.retries,
            dead_letters=w.dead_letters,
            last_error=w.last_error,
            pruned=sum(w.pruned.values()),
        )
        for name, w in stats.writers.items()
    }
    relays = {
        key: RelayLag(
            source=r.source,
            database=r.database,
            pending=r.pending,
            lag_seconds=r.lag_seconds,
            delivered=r.delivered,
            cursor=r.cursor,
        )
        for key, r in stats.relays.items()
    }
    errors = [w.last_error for w in writers.values() if w.last_error is not None]
    return ProcessStatus(
        id=id,
        roles=tuple(node.roles),
        pid=pid,
        host=host,
        started=started,
        heartbeat=time.time_ns(),
        state=state,
        interval=interval,
        stale_after=max(STALE_AFTER, 3 * interval),
        events_written=sum(w.events for w in writers.values()),
        rows_written=sum(w.rows for w in writers.values()),
        queue_depth={name: w.pending for name, w in writers.items()},
        relays=relays,
        writers=writers,
        last_error=error if error is not None else (errors[0] if errors else None),
        http=http,
    )
