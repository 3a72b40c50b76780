"""The pruner: retention run by the writer that owns the database.

A pass computes, per table its policy prunes, the bound (the wall clock less the
days kept) and deletes what is older in steps of at most ``chunk`` rows, each a
transaction of its own run by the writer's SQLite thread between two ingest
transactions: a tick batch waits behind one step at most, never behind a whole
prune. Between steps the pruner rests so that it takes at most ``share`` of the
writer's time. A pass killed midway (the process dies, the node stops) leaves every
step it committed done and the rest untouched; the next pass (at the next start,
or ``every`` seconds later) deletes what is left.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from schemas import format_ts

from ._actor import WriterActor
from ._exceptions import WriterError, error_text
from ._prune_sql import START, history_step, prune_step
from ._retention import HISTORIES, TARGETS, History, Retention, Target

__all__ = ["PruneReport", "PruneStatistics", "Pruner"]

logger = logging.getLogger("writers")

T = TypeVar("T")


class PruneReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one prune pass did."""

    database: str
    #: The wall clock (ns) the bounds were computed from.
    now: int
    #: Per table pruned: the event time (ns) below which its rows went.
    bounds: dict[str, int]
    #: Per table pruned: rows deleted.
    deleted: dict[str, int]
    #: Transactions it ran (steps of at most ``chunk`` rows).
    steps: int
    #: The longest a step ran (ms): the most an ingest transaction waited behind it.
    max_step_ms: float
    seconds: float


class PruneStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A pruner's counters (see :meth:`Pruner.statistics`)."""

    database: str
    policy: str
    #: Passes finished.
    passes: int
    #: Rows deleted per table by this pruner.
    pruned: dict[str, int]
    #: Whether a pass is under way.
    pruning: bool
    #: Steps run, and the longest (ms): the most an ingest transaction waited.
    steps: int
    max_step_ms: float
    last_pass: PruneReport | None
    #: Why the last pass failed (it is tried again ``every`` seconds later), or None.
    last_error: str | None


class Pruner:
    """Prunes ``writer``'s database by ``retention``: a pass at once, then one every
    ``retention.every`` seconds, until it is left.

    Use as ``async with Pruner(writer, retention):`` inside the running writer (it
    owns its task; leaving it ends the step under way, committed, and stops).
    :meth:`prune` runs a pass on demand. Rows deleted are counted in the writer's
    statistics (``WriterStatistics.pruned``) too.

    :param clock: the wall clock (ns) the bounds are computed from.
    """

    def __init__(
        self,
        writer: WriterActor,
        retention: Retention,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if not isinstance(retention, Retention):
            raise TypeError(f"retention must be a Retention, got {retention!r}")
        self.writer = writer
        self.retention = retention
        self.clock = clock
        self._passes = 0
        self._pruned: dict[str, int] = {}
        self._pruning = False
        self._last_pass: PruneReport | None = None
        self._last_error: str | None = None
        self._deleted: dict[str, int] = {}  # by the pass under way, per table
        self._steps = 0  # of the pass under way
        self._max_step = 0.0  # of the pass under way (seconds)
        self._all_steps = 0
        self._longest = 0.0  # of every step (seconds)
        self._lock = anyio.Lock()
        self._task_group: TaskGroup | None = None

    @property
    def database(self) -> str:
        return self.writer.spec.name

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        await self._task_group.start(self._serve)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        await self._task_group.__aexit__(exc_type, exc, tb)

    async def _serve(self, *, task_status: TaskStatus[None]) -> None:
        task_status.started()
        if not self.retention.enabled:
            return
        logger.info(
            "writer %s: retention: %s; a pass every %g s",
            self.database,
            self.retention.describe(),
            self.retention.every,
        )
        while True:
            try:
                await self.prune()
            except (WriterError, sqlite3.Error) as exc:
                self._last_error = error_text(exc)
                logger.warning(
                    "writer %s: a prune pass failed (%s); the next pass in %g s takes what is left",
                    self.database,
                    self._last_error,
                    self.retention.every,
                )
            await anyio.sleep(self.retention.every)

    async def prune(self) -> PruneReport:
        """Run one pass now; return what it deleted.

        :raises WriterError: if the writer is not running, or its database fails.
        """
        async with self._lock:  # one pass at a time
            return await self._prune()

    async def _prune(self) -> PruneReport:
        now = self.clock()
        bounds = self.retention.bounds(self.writer.spec.tables, now)
        self._deleted = dict.fromkeys(bounds, 0)
        self._steps, self._max_step = 0, 0.0
        started = time.monotonic()
        self._pruning = True
        try:
            for target in TARGETS:
                if target.table in bounds:
                    await self._prune_table(target, bounds[target.table])
            for history in HISTORIES:
                if history.parent in bounds:
                    await self._prune_history(history, bounds[history.parent])
        finally:
            self._pruning = False
        deleted, steps = self._deleted, self._steps
        report = PruneReport(
            database=self.database,
            now=now,
            bounds=bounds,
            deleted=deleted,
            steps=steps,
            max_step_ms=self._max_step * 1000,
            seconds=time.monotonic() - started,
        )
        self._passes += 1
        self._last_pass = report
        self._last_error = None
        if any(deleted.values()):
            logger.info("writer %s: %s", self.database, describe(report))
        return report

    async def _prune_table(self, target: Target, bound: int) -> None:
        at: tuple[object, ...] | None = START
        while at is not None:
            job = partial(prune_step, target=target, bound=bound, chunk=self.retention.chunk, at=at)
            step, seconds = await self._step(job)
            self._count({target.table: step.deleted}, seconds)
            at = step.at
            if at is not None:
                await self._rest(seconds)

    async def _prune_history(self, history: History, bound: int) -> None:
        more = True
        while more:
            job = partial(history_step, history=history, bound=bound, chunk=self.retention.chunk)
            (deleted, more), seconds = await self._step(job)
            self._count(deleted, seconds)
            if more:
                await self._rest(seconds)

    async def _rest(self, seconds: float) -> None:
        """Rest after a step that ran ``seconds`` so that pruning takes at most
        ``share`` of the writer's time."""
        share = self.retention.share
        await anyio.sleep(seconds * (1 - share) / share)

    async def _step(self, job: Callable[[sqlite3.Connection], T]) -> tuple[T, float]:
        """Run ``job`` in the writer's thread; what it returned, and how long it ran
        there (not counting the wait for the transactions ahead of it)."""

        def timed(conn: sqlite3.Connection) -> tuple[T, float]:
            began = time.perf_counter()
            result = job(conn)
            return result, time.perf_counter() - began

        store = self.writer.sqlite
        try:
            return await store.housekeep(timed)
        except RuntimeError as exc:  # the writer's thread is not running
            raise WriterError(
                f"cannot prune {store.path}: its writer is not running ({exc}); "
                "prune inside the running writer"
            ) from exc

    def _count(self, deleted: dict[str, int], seconds: float) -> None:
        """Count a step's rows (at once: a pass cut short is counted as far as it got)."""
        self._steps += 1
        self._max_step = max(self._max_step, seconds)
        self._all_steps += 1
        self._longest = max(self._longest, seconds)
        counted = self.writer.counters.pruned
        for table, n in deleted.items():
            self._deleted[table] = self._deleted.get(table, 0) + n
            self._pruned[table] = self._pruned.get(table, 0) + n
            counted[table] = counted.get(table, 0) + n

    def statistics(self) -> PruneStatistics:
        """Return the pruner's counters."""
        return PruneStatistics(
            database=self.database,
            policy=self.retention.describe(),
            passes=self._passes,
            pruned=dict(self._pruned),
            pruning=self._pruning,
            steps=self._all_steps,
            max_step_ms=self._longest * 1000,
            last_pass=self._last_pass,
            last_error=self._last_error,
        )

    def __repr__(self) -> str:
        return f"<Pruner {self.database}: {self.retention.describe()}>"


def describe(report: PruneReport) -> str:
    """A pass in words: rows deleted per table, and the bound of each."""
    parts = [
        f"{table} {report.deleted[table]} rows older than {format_ts(bound)}"
        for table, bound in report.bounds.items()
    ]
    return (
        f"pruned {', '.join(parts)} in {report.seconds:.1f} s ({report.steps} steps, "
        f"the longest {report.max_step_ms:.1f} ms)"
    )
