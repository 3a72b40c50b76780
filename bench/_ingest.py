"""Ingest at full speed: the plain-sqlite3 ceiling, the naive baseline, and tradebus."""

from __future__ import annotations

import dataclasses
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anyio.lowlevel import checkpoint

import schemas
from eventbus import BusFull, EventBus, Message
from schemas import Tick
from writers import MAIN, WriterActor, WriterStatistics

from ._context import Context
from ._results import Line, ScenarioResult
from ._sqlite import TICK_INSERT, connect, create_database
from ._ticks import TickRow

__all__ = [
    "IngestRun",
    "ceiling",
    "count_ticks",
    "ingest_tradebus",
    "naive",
    "publish_all",
    "tradebus",
    "writer_figures",
]

#: A producer yields to the event loop every this many ticks, as a real feed does
#: between network reads; it lets the writer overlap with publishing.
YIELD_EVERY = 500


def count_ticks(path: Path) -> int:
    """How many rows ``unified_ticks`` holds (every run checks nothing was lost)."""
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute("SELECT count(*) FROM unified_ticks").fetchone()
    finally:
        conn.close()
    return int(count)


def _check_stored(path: Path, expected: int) -> None:
    stored = count_ticks(path)
    if stored != expected:
        raise RuntimeError(f"{path}: {stored} ticks stored, {expected} expected")


# ------------------------------------------------------------------------ ceiling


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds (every thread of this process) of one run."""

    seconds: float
    cpu_seconds: float


def ceiling_once(path: Path, rows: Sequence[TickRow], batch: int) -> Timing:
    """Insert ``rows`` with ``executemany``, ``batch`` rows per transaction."""
    create_database(path, MAIN)
    conn = connect(path)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(TICK_INSERT, rows[start : start + batch])
            conn.execute("COMMIT")
        timing = Timing(time.perf_counter() - started, time.process_time() - cpu_started)
    finally:
        conn.close()
    _check_stored(path, len(rows))
    return timing


def _per_tick_us(timing: Timing, ticks: int) -> float:
    return timing.cpu_seconds / ticks * 1e6 if ticks else 0.0


async def ceiling(ctx: Context) -> ScenarioResult:
    """Plain sqlite3 ``executemany`` of pre-built rows: the limit for Python here."""
    config = ctx.config
    runs = []
    for i in range(config.repeat):
        ctx.status(f"run {i + 1}/{config.repeat}")
        runs.append(ceiling_once(ctx.db_path("ceiling"), ctx.rows, config.max_batch))
    best = min(runs, key=lambda run: run.seconds)
    rate = len(ctx.rows) / best.seconds
    cpu_us = _per_tick_us(best, len(ctx.rows))
    figures = {
        "ticks": len(ctx.rows),
        "rows_per_transaction": config.max_batch,
        "seconds": best.seconds,
        "ticks_per_s": rate,
        "cpu_seconds": best.cpu_seconds,
        "cpu_us_per_tick": cpu_us,
        "runs_s": [run.seconds for run in runs],
    }
    line = Line(
        scenario="ceiling",
        label=f"sqlite3 executemany, {config.max_batch} rows/txn",
        rate=rate,
        unit="ticks/s",
        note=f"CPU {cpu_us:.1f} us/tick",
    )
    return ScenarioResult(name="ceiling", figures=figures, lines=[line])


# -------------------------------------------------------------------------- naive


def naive_once(path: Path, rows: Sequence[TickRow]) -> float:
    """One INSERT and COMMIT per row, default rollback journal; the seconds."""
    create_database(path, MAIN, journal="delete")
    conn = connect(path, journal="delete")
    try:
        started = time.perf_counter()
        for row in rows:
            conn.execute("BEGIN")
            conn.execute(TICK_INSERT, row)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    _check_stored(path, len(rows))
    return elapsed


async def naive(ctx: Context) -> ScenarioResult:
    """A commit per tick with the default journal: what the original system did."""
    rows = ctx.rows[: ctx.config.naive_ticks]
    ctx.status(f"{len(rows)} commits")
    seconds = naive_once(ctx.db_path("naive"), rows)
    rate = len(rows) / seconds
    figures = {"ticks": len(rows), "seconds": seconds, "ticks_per_s": rate}
    line = Line(
        scenario="naive",
        label="INSERT + COMMIT per tick, rollback journal",
        rate=rate,
        unit="ticks/s",
    )
    return ScenarioResult(name="naive", figures=figures, lines=[line])


# ----------------------------------------------------------------------- tradebus


@dataclasses.dataclass(kw_only=True)
class IngestRun:
    """One tradebus ingest: seconds from the first publish until flush returned."""

    ticks: int
    seconds: float
    #: CPU seconds of the whole process (event loop thread and SQLite thread).
    cpu_seconds: float
    writer: WriterStatistics

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds


async def publish_all(bus: EventBus, ticks: Sequence[Tick]) -> None:
    """Publish ``ticks`` with ``publish_nowait``, waiting only when a buffer is full."""
    publish = bus.publish_nowait
    for start in range(0, len(ticks), YIELD_EVERY):
        for tick in ticks[start : start + YIELD_EVERY]:
            try:
                publish(tick)
            except BusFull:
                await bus.publish(tick)
        await checkpoint()


async def ingest_tradebus(
    path: Path,
    ticks: Sequence[Tick],
    *,
    max_batch: int,
    max_delay: float,
    on_commit: Callable[[list[Message], float], None] | None = None,
    during: Callable[[], Any] | None = None,
) -> IngestRun:
    """Publish every tick through the bus into a main writer; time it until flush returns.

    The writer is started (and the schema created) before the clock starts.
    ``during`` is called right before the first publish.
    """
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(
            bus, MAIN, path, max_batch=max_batch, max_delay=max_delay, on_commit=on_commit
        ) as writer,
    ):
        if during is not None:
            during()
        started, cpu_started = time.perf_counter(), time.process_time()
        await publish_all(bus, ticks)
        await bus.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        counters = writer.statistics()
    _check_stored(path, len(ticks))
    return IngestRun(ticks=len(ticks), seconds=elapsed, cpu_seconds=cpu, writer=counters)


def writer_figures(statistics: WriterStatistics) -> dict[str, Any]:
    """The writer's statistics worth keeping in the results file."""
    return {
        "batches": statistics.batches,
        "mean_batch": statistics.mean_batch,
        "max_batch": statistics.max_batch,
        "mean_commit_ms": statistics.mean_commit_ms,
        "max_commit_ms": statistics.max_commit_ms,
        "retries": statistics.retries,
        "dead_letters": statistics.dead_letters,
    }


async def tradebus(ctx: Context) -> ScenarioResult:
    """Pre-built ticks through ``publish_nowait`` into the main writer, until flush.

    When the ceiling is part of the run, each tradebus run is paired with a ceiling
    run right before it: the median of the pairs' ratios resists a machine whose
    load changes during the run better than the ratio of the two best runs does.
    """
    config = ctx.config
    paired = "ceiling" in config.scenarios
    runs: list[IngestRun] = []
    pair_ratios: list[float] = []
    for i in range(config.repeat):
        ctx.status(f"run {i + 1}/{config.repeat}")
        if paired:
            reference = ceiling_once(ctx.db_path("ceiling-pair"), ctx.rows, config.max_batch)
        run = await ingest_tradebus(
            ctx.db_path("tradebus"),
            ctx.ticks,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
        )
        runs.append(run)
        if paired:
            pair_ratios.append(reference.seconds / run.seconds)
    best = min(runs, key=lambda run: run.seconds)
    cpu_us = _per_tick_us(Timing(best.seconds, best.cpu_seconds), best.ticks)
    paired_ratio = statistics.median(pair_ratios) if pair_ratios else None
    figures = {
        "ticks": best.ticks,
        "seconds": best.seconds,
        "ticks_per_s": best.rate,
        "cpu_seconds": best.cpu_seconds,
        "cpu_us_per_tick": cpu_us,
        "runs_s": [run.seconds for run in runs],
        "paired_ratios_to_ceiling": pair_ratios,
        "paired_ratio_to_ceiling": paired_ratio,
        "writer": writer_figures(best.writer),
    }
    paired_note = "" if paired_ratio is None else f"paired with ceiling {paired_ratio:.2f}x; "
    line = Line(
        scenario="tradebus",
        label=f"publish_nowait -> writer, batch {config.max_batch}/{config.max_delay * 1000:g} ms",
        rate=best.rate,
        unit="ticks/s",
        note=f"{paired_note}CPU {cpu_us:.1f} us/tick; mean batch {best.writer.mean_batch:.0f}, "
        f"commit {best.writer.mean_commit_ms:.1f} ms",
    )
    return ScenarioResult(name="tradebus", figures=figures, lines=[line])
