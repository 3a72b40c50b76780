"""A writer's counters, and the statistics it reports from them."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import NamedTuple

__all__ = ["BATCH_BUCKETS", "COMMIT_BUCKETS", "Counters", "WriterStatistics"]

# The weights of the latest batch in the moving average of cut-to-acknowledgement and in
# that of its deviation from it (as TCP estimates a round trip and its variation).
_SETTLE_WEIGHT = 0.2
_DEVIATION_WEIGHT = 0.25

#: The upper bounds (seconds, inclusive) of the commit-duration histogram's buckets;
#: one more bucket counts the commits slower than the last.
COMMIT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
#: The upper bounds (events, inclusive) of the batch-size histogram's buckets; one
#: more bucket counts the larger batches.
BATCH_BUCKETS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


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
    #: Commits per duration bucket (see :data:`COMMIT_BUCKETS`; not cumulative, the
    #: last one counts the commits slower than every bound). Their sum is ``batches``.
    commit_buckets: tuple[int, ...] = ()
    #: Batches per size bucket (see :data:`BATCH_BUCKETS`; the same layout).
    batch_buckets: tuple[int, ...] = ()
    #: The commits' total duration (seconds).
    commit_seconds: float = 0.0


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
        #: How long (s) a batch takes from its cut to its acknowledgement (planned,
        #: queued behind the transaction in flight, committed, acknowledged): an
        #: exponential moving average of the recent batches, for the batch cut.
        self.cut_to_ack = 0.0
        #: How far (s) a batch's cut-to-acknowledgement strays from that average: a
        #: moving average of the absolute differences.
        self.cut_to_ack_deviation = 0.0
        #: The batches it averages (0: nothing is known yet).
        self.settled_batches = 0
        self.retries = 0
        self.last_error: str | None = None
        #: Rows deleted per table by retention.
        self.pruned: dict[str, int] = {}
        self.commit_buckets = [0] * (len(COMMIT_BUCKETS) + 1)
        self.batch_buckets = [0] * (len(BATCH_BUCKETS) + 1)

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
        self.commit_total += ms
        self.commit_max = max(self.commit_max, ms)
        self.commit_buckets[bisect.bisect_left(COMMIT_BUCKETS, seconds)] += 1
        self.batch_buckets[bisect.bisect_left(BATCH_BUCKETS, events)] += 1

    def settled(self, seconds: float) -> None:
        """A batch was acknowledged ``seconds`` after it was cut."""
        if self.settled_batches:
            error = seconds - self.cut_to_ack
            self.cut_to_ack_deviation += _DEVIATION_WEIGHT * (
                abs(error) - self.cut_to_ack_deviation
            )
            self.cut_to_ack += _SETTLE_WEIGHT * error
        else:
            self.cut_to_ack = seconds
            self.cut_to_ack_deviation = seconds / 2
        self.settled_batches += 1

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
            commit_buckets=tuple(self.commit_buckets),
            batch_buckets=tuple(self.batch_buckets),
            commit_seconds=self.commit_total / 1000,
        )
