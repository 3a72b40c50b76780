"""A writer's counters, and the statistics it reports from them."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import NamedTuple

__all__ = ["Counters", "WriterStatistics"]

_RECENT_COMMITS = 16  # commits whose duration the batch cut allows for


class WriterStatistics(NamedTuple):
    """Counters of one writer (see :meth:`WriterActor.statistics`)."""

    database: str
    path: str
    #: Rows written per table (inserted or updated; replays that changed nothing too).
    rows: dict[str, int]
    batches: int
    events: int
    mean_batch: float
    max_batch: int
    last_commit_ms: float
    mean_commit_ms: float
    max_commit_ms: float
    retries: int
    dead_letters: int
    #: Events waiting in the subscription or being written.
    pending: int
    #: Frames in the WAL at the last inspection.
    wal_frames: int
    last_error: str | None
    #: Rows deleted per table by retention (prune passes of this run).
    pruned: dict[str, int] = {}  # noqa: RUF012 - a NamedTuple's default, never mutated


class Counters:
    """What a writer counts as it commits."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.rows: dict[str, int] = dict.fromkeys(tables, 0)
        self.batches = 0
        self.events = 0
        self.max_batch = 0
        self.commit_total = 0.0
        self.commit_last = 0.0
        self.commit_max = 0.0
        #: The durations (s) of the last commits, for the batch cut.
        self.recent_commits: collections.deque[float] = collections.deque(maxlen=_RECENT_COMMITS)
        self.retries = 0
        self.last_error: str | None = None
        #: Rows deleted per table by retention.
        self.pruned: dict[str, int] = {}

    def add_rows(self, rows: Mapping[str, int]) -> None:
        counted = self.rows
        for table, n in rows.items():
            counted[table] = counted.get(table, 0) + n

    def committed(self, events: int, rows: Mapping[str, int], seconds: float) -> None:
        """A batch (or a part of one) of ``events`` was committed in ``seconds``."""
        self.add_rows(rows)
        self.batches += 1
        self.events += events
        self.max_batch = max(self.max_batch, events)
        ms = seconds * 1000
        self.commit_last = ms
        self.recent_commits.append(seconds)
        self.commit_total += ms
        self.commit_max = max(self.commit_max, ms)

    def statistics(
        self, database: str, path: str, pending: int, wal_frames: int
    ) -> WriterStatistics:
        batches = self.batches
        return WriterStatistics(
            database=database,
            path=path,
            rows=dict(self.rows),
            batches=batches,
            events=self.events,
            mean_batch=self.events / batches if batches else 0.0,
            max_batch=self.max_batch,
            last_commit_ms=self.commit_last,
            mean_commit_ms=self.commit_total / batches if batches else 0.0,
            max_commit_ms=self.commit_max,
            retries=self.retries,
            dead_letters=self.rows.get("dead_letters", 0),
            pending=pending,
            wal_frames=wal_frames,
            last_error=self.last_error,
            pruned=dict(self.pruned),
        )
