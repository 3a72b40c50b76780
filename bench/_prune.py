"""Tick ingest while the writer prunes a large old backlog, against ingest without.

Each run starts from a copy of the same database: a backlog of old ticks (60 days
before the run's ticks, five times as many) that a ``Retention(ticks=30)`` policy
deletes. Pairs, interleaved (the plain run first in even pairs, the pruning run
first in odd ones): the run's ticks published into the main writer until flush
returns, with no pruner, then with a :class:`~writers.Pruner` (its default chunk
and share) that starts its pass as the first tick is published. The ratio is the
ingest rate during the prune over the rate without it (1.0: the prune costs ingest
nothing).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import schemas
from eventbus import EventBus
from writers import MAIN, Pruner, Retention, WriterActor

from ._context import Context
from ._ingest import YIELD_EVERY, count_ticks, publish_all, writer_figures
from ._pairs import Pair, pairs_note, summarize_pairs
from ._results import Line, ScenarioResult
from ._sched import Disturbance, RunQueueProbe
from ._sqlite import TICK_INSERT, connect, create_database
from ._ticks import START_TS

__all__ = ["prune"]

_DAY = 86_400 * 1_000_000_000
#: Backlog rows per tick of the run.
_BACKLOG_FACTOR = 5
#: The policy: ticks 30 days; its clock one day after the run's first tick, so the
#: backlog (60 days older) goes and the run's ticks stay.
_POLICY = Retention(ticks=30)


def _clock() -> int:
    return START_TS + _DAY


def _build_backlog(path: Path, ctx: Context) -> int:
    """A main database holding the old backlog (the run's rows, shifted back 60 days,
    repeated); return how many rows."""
    create_database(path, MAIN)
    conn = connect(path)
    rows = ctx.rows
    total = len(rows) * _BACKLOG_FACTOR
    try:
        seq = 1
        for copy in range(_BACKLOG_FACTOR):
            shift = 60 * _DAY + copy * 1_000  # distinct (symbol, ts) per copy
            batch = [(r[0], r[1] - shift, seq + i, *r[3:]) for i, r in enumerate(rows)]
            seq += len(batch)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(TICK_INSERT, batch)
            conn.execute("COMMIT")
        conn.execute("INSERT INTO writer_state (key, value) VALUES ('tick_seq', ?)", (seq,))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return total


@dataclasses.dataclass(kw_only=True)
class _Run:
    seconds: float
    ticks: int
    pruned: int
    pruning_at_end: bool
    max_step_ms: float | None
    figures: dict[str, Any]
    disturbance: Disturbance

    @property
    def rate(self) -> float:
        return self.ticks / self.seconds


async def _ingest(ctx: Context, backlog: Path, name: str, pruning: bool) -> _Run:
    config = ctx.config
    path = ctx.db_path(name)
    shutil.copyfile(backlog, path)
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(bus, MAIN, path, max_batch=config.max_batch, max_delay=config.max_delay)
        as writer,
    ):  # fmt: skip
        pruner = Pruner(writer, _POLICY, clock=_clock) if pruning else None
        async with AsyncExitStack() as stack:
            probe = RunQueueProbe()
            started = time.perf_counter()
            if pruner is not None:
                await stack.enter_async_context(pruner)  # its pass starts at once
            await publish_all(bus, ctx.ticks, yield_every=YIELD_EVERY)
            await bus.flush()
            elapsed = time.perf_counter() - started
            disturbance = probe.stop(elapsed)
            stats = writer.statistics()
            prune_stats = None if pruner is None else pruner.statistics()
            pruning_at_end = prune_stats is not None and prune_stats.pruning
        # The step under way when the pruner stopped was committed too.
        pruned_in_all = writer.statistics().pruned.get("unified_ticks", 0)
    pruned = stats.pruned.get("unified_ticks", 0)
    stored = count_ticks(path)
    expected = len(ctx.rows) * _BACKLOG_FACTOR - pruned_in_all + len(ctx.ticks)
    if stored != expected:  # every tick published is stored, only old ones went
        raise RuntimeError(f"{path}: {stored} ticks stored, {expected} expected")
    return _Run(
        seconds=elapsed,
        ticks=len(ctx.ticks),
        pruned=pruned,
        pruning_at_end=pruning_at_end,
        max_step_ms=None if prune_stats is None else prune_stats.max_step_ms,
        figures=writer_figures(stats),
        disturbance=disturbance,
    )


async def prune(ctx: Context) -> ScenarioResult:
    """Interleaved pairs of ingest without and during a prune of an old backlog."""
    config = ctx.config
    ctx.status("building the backlog")
    backlog = ctx.fresh_dir("prune-backlog") / MAIN.filename
    backlog_rows = _build_backlog(backlog, ctx)
    plain_runs: list[_Run] = []
    prune_runs: list[_Run] = []
    pairs: list[Pair] = []
    for i in range(config.repeat):
        ctx.status(f"pair {i + 1}/{config.repeat}")
        if i % 2:
            during = await _ingest(ctx, backlog, "prune-during", pruning=True)
            plain = await _ingest(ctx, backlog, "prune-plain", pruning=False)
        else:
            plain = await _ingest(ctx, backlog, "prune-plain", pruning=False)
            during = await _ingest(ctx, backlog, "prune-during", pruning=True)
        plain_runs.append(plain)
        prune_runs.append(during)
        ratio = during.rate / plain.rate
        pairs.append(Pair(ratio=ratio, reference=plain.disturbance, measured=during.disturbance))
    summary = summarize_pairs(pairs)
    best_plain = max(plain_runs, key=lambda r: r.rate)
    best_during = max(prune_runs, key=lambda r: r.rate)
    pruned_rates = [r.pruned / r.seconds for r in prune_runs]
    figures: dict[str, Any] = {
        "ticks": len(ctx.ticks),
        "backlog_rows": backlog_rows,
        "policy": {"ticks_days": _POLICY.ticks, "chunk": _POLICY.chunk, "share": _POLICY.share},
        "ticks_per_s_without_prune": best_plain.rate,
        "ticks_per_s_during_prune": best_during.rate,
        "paired_ratio": summary["ratio"],
        "paired_ratio_undisturbed": summary["ratio_undisturbed"],
        "paired_ratios": summary["ratios"],
        "pairs": summary["pairs"],
        "rows_pruned_during_ingest": [r.pruned for r in prune_runs],
        "rows_pruned_per_s_during_ingest": pruned_rates,
        "prune_still_running_at_end": [r.pruning_at_end for r in prune_runs],
        "max_prune_step_ms": [r.max_step_ms for r in prune_runs],
        "writer_without_prune": best_plain.figures,
        "writer_during_prune": best_during.figures,
    }
    still = sum(r.pruning_at_end for r in prune_runs)
    longest = max((r.max_step_ms or 0.0) for r in prune_runs)
    line = Line(
        scenario="prune",
        label=f"ingest during a prune of {backlog_rows:,} old ticks (chunk {_POLICY.chunk}, "
        f"share {_POLICY.share:g})",
        rate=best_during.rate,
        unit="ticks/s",
        note=f"during/without paired {pairs_note(summary)}; without {best_plain.rate:,.0f}/s; "
        f"pruned {max(pruned_rates):,.0f} rows/s meanwhile, steps <= {longest:.0f} ms "
        f"(prune outlasted ingest in {still}/{len(prune_runs)} runs)",
    )
    return ScenarioResult(name="prune", figures=figures, lines=[line])
