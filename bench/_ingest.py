"""Ingest at full speed: the plain-sqlite3 ceiling, the naive baseline, and tradebus."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from anyio.lowlevel import checkpoint

import schemas
from eventbus import BusFull, EventBus, Message
from schemas import Tick
from writers import MAIN, WriterActor, WriterStatistics

from ._context import Context
from ._pairs import Pair, pairs_note, summarize_pairs
from ._results import Line, ScenarioResult
from ._sched import Disturbance, RunQueueProbe, thread_cpu_clock
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
    "tradebus_yielding",
    "writer_figures",
]

#: The yielding producer yields to the event loop every this many ticks, as a feed
#: does between network reads; it lets the writer overlap with publishing.
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
    disturbance: Disturbance | None = None


def ceiling_once(path: Path, rows: Sequence[TickRow], batch: int) -> Timing:
    """Insert ``rows`` in their (publish) order with ``executemany``, ``batch`` rows per
    transaction, into a file made by the main database's migrations."""
    create_database(path, MAIN)
    conn = connect(path)
    try:
        probe = RunQueueProbe()
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(TICK_INSERT, rows[start : start + batch])
            conn.execute("COMMIT")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        timing = Timing(elapsed, cpu, probe.stop(elapsed))
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
        "disturbances": [run.disturbance.to_json() for run in runs if run.disturbance],
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
    disturbance: Disturbance
    #: The interpreter's thread switch interval while the writer ran (seconds).
    switch_interval: float
    #: CPU seconds of the writer's SQLite thread (None where the platform cannot tell).
    sqlite_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds


async def publish_all(
    bus: EventBus, ticks: Sequence[Tick], *, yield_every: int | None = None
) -> None:
    """Publish ``ticks`` with ``publish_nowait``; on ``BusFull`` wait with ``publish``.

    With ``yield_every=None`` the producer never yields to the event loop except on
    backpressure (a full buffer); otherwise it also yields every ``yield_every`` ticks.
    """
    publish = bus.publish_nowait
    if yield_every is None:
        for tick in ticks:
            try:
                publish(tick)
            except BusFull:
                await bus.publish(tick)
        return
    for start in range(0, len(ticks), yield_every):
        for tick in ticks[start : start + yield_every]:
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
    yield_every: int | None = YIELD_EVERY,
    writer_options: Mapping[str, Any] | None = None,
) -> IngestRun:
    """Publish every tick through the bus into a main writer; time it until flush returns.

    The writer is started (and the schema created) before the clock starts.
    ``during`` is called right before the first publish; ``yield_every`` is
    :func:`publish_all`'s; ``writer_options`` are more arguments of the writer
    (its own defaults otherwise).
    """
    options = dict(writer_options or {})
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(
            bus,
            MAIN,
            path,
            max_batch=max_batch,
            max_delay=max_delay,
            on_commit=on_commit,
            **options,
        ) as writer,
    ):
        switch_interval = sys.getswitchinterval()
        sqlite_clock = thread_cpu_clock(f"tradebus writer {MAIN.name}")
        if during is not None:
            during()
        probe = RunQueueProbe()
        sqlite_started = None if sqlite_clock is None else sqlite_clock()
        started, cpu_started = time.perf_counter(), time.process_time()
        await publish_all(bus, ticks, yield_every=yield_every)
        await bus.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        sqlite_cpu = None
        if sqlite_clock is not None and sqlite_started is not None:
            sqlite_cpu = sqlite_clock() - sqlite_started
        disturbance = probe.stop(elapsed)
        counters = writer.statistics()
    _check_stored(path, len(ticks))
    return IngestRun(
        ticks=len(ticks),
        seconds=elapsed,
        cpu_seconds=cpu,
        writer=counters,
        disturbance=disturbance,
        switch_interval=switch_interval,
        sqlite_cpu_seconds=sqlite_cpu,
    )


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


async def _tradebus_run(ctx: Context, name: str, yield_every: int | None) -> IngestRun:
    config = ctx.config
    return await ingest_tradebus(
        ctx.db_path(name),
        ctx.ticks,
        max_batch=config.max_batch,
        max_delay=config.max_delay,
        yield_every=yield_every,
    )


async def _paired_ingest(ctx: Context, name: str, yield_every: int | None) -> ScenarioResult:
    """Interleaved pairs of a ceiling run and a tradebus run of the same ticks, the
    ceiling first in even pairs and tradebus first in odd ones (neither always
    inherits a warm page cache or a cold CPU)."""
    config = ctx.config
    runs: list[IngestRun] = []
    pairs: list[Pair] = []
    firsts: list[str] = []
    for i in range(config.repeat):
        ctx.status(f"pair {i + 1}/{config.repeat}")
        ceiling_path = ctx.db_path(f"{name}-ceiling")
        if i % 2:
            run = await _tradebus_run(ctx, name, yield_every)
            reference = ceiling_once(ceiling_path, ctx.rows, config.max_batch)
        else:
            reference = ceiling_once(ceiling_path, ctx.rows, config.max_batch)
            run = await _tradebus_run(ctx, name, yield_every)
        firsts.append("tradebus" if i % 2 else "ceiling")
        runs.append(run)
        assert reference.disturbance is not None
        pairs.append(
            Pair(
                ratio=reference.seconds / run.seconds,
                reference=reference.disturbance,
                measured=run.disturbance,
            )
        )
    best = min(runs, key=lambda run: run.seconds)
    cpu_us = _per_tick_us(Timing(best.seconds, best.cpu_seconds), best.ticks)
    summary = summarize_pairs(pairs)
    for pair_json, first in zip(summary["pairs"], firsts, strict=True):
        pair_json["first"] = first
    figures = {
        "ticks": best.ticks,
        "symbols": config.symbols,
        "yield_every": yield_every,
        "seconds": best.seconds,
        "ticks_per_s": best.rate,
        "cpu_seconds": best.cpu_seconds,
        "cpu_us_per_tick": cpu_us,
        "runs_s": [run.seconds for run in runs],
        "paired_ratio_to_ceiling": summary["ratio"],
        "paired_ratio_to_ceiling_undisturbed": summary["ratio_undisturbed"],
        "paired_ratios_to_ceiling": summary["ratios"],
        "pairs": summary["pairs"],
        "writer": writer_figures(best.writer),
    }
    producer = "no yield" if yield_every is None else f"yield every {yield_every}"
    line = Line(
        scenario=name,
        label=f"publish_nowait ({producer}) -> writer, batch {config.max_batch}/"
        f"{config.max_delay * 1000:g} ms",
        rate=best.rate,
        unit="ticks/s",
        note=f"paired with ceiling {pairs_note(summary)}; CPU {cpu_us:.1f} us/tick; "
        f"mean batch {best.writer.mean_batch:.0f}, commit {best.writer.mean_commit_ms:.1f} ms",
    )
    return ScenarioResult(name=name, figures=figures, lines=[line])


async def tradebus(ctx: Context) -> ScenarioResult:
    """Pre-built ticks through ``publish_nowait`` into the main writer, until flush; the
    producer yields only on backpressure. Paired with ceiling runs."""
    return await _paired_ingest(ctx, "tradebus", None)


async def tradebus_yielding(ctx: Context) -> ScenarioResult:
    """The same, with a producer that also yields every ``YIELD_EVERY`` ticks."""
    return await _paired_ingest(ctx, "tradebus-yielding", YIELD_EVERY)
