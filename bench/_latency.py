"""Publish-to-commit latency at fixed offered rates, and the batch-size sweep."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

import schemas
from eventbus import BusFull, EventBus, Message
from schemas import Tick
from writers import MAIN, WriterActor, WriterStatistics

from ._context import Context
from ._ingest import count_ticks, ingest_tradebus, writer_figures
from ._results import Line, ScenarioResult, summarize_ms
from ._sched import Disturbance, RunQueueProbe

__all__ = ["PacedRun", "batch_sweep", "latency", "paced_ingest"]

#: How long the paced producer sleeps between bursts (the event loop's granularity
#: is about a millisecond anyway).
_PACE = 0.001


@dataclasses.dataclass(kw_only=True)
class PacedRun:
    """One paced ingest: latencies of every tick and the batches the writer chose."""

    offered: int
    ticks: int
    seconds: float
    latencies_ms: list[float]
    batch_sizes: list[int]
    writer: WriterStatistics
    disturbance: Disturbance

    @property
    def achieved(self) -> float:
        return self.ticks / self.seconds

    def figures(self) -> dict[str, Any]:
        sizes = sorted(self.batch_sizes)
        return {
            "offered_per_s": self.offered,
            "achieved_per_s": self.achieved,
            "ticks": self.ticks,
            "seconds": self.seconds,
            "latency": summarize_ms(self.latencies_ms),
            "batches": {
                "count": len(sizes),
                "mean": sum(sizes) / len(sizes) if sizes else 0.0,
                "min": sizes[0] if sizes else 0,
                "p50": sizes[len(sizes) // 2] if sizes else 0,
                "max": sizes[-1] if sizes else 0,
            },
            "writer": writer_figures(self.writer),
            "disturbance": self.disturbance.to_json(),
        }


async def paced_ingest(
    path: Path,
    ticks: Sequence[Tick],
    *,
    rate: int,
    seconds: float,
    max_batch: int,
    max_delay: float,
) -> PacedRun:
    """Publish ``rate`` ticks/s for ``seconds`` (cycling ``ticks``); time each to its commit.

    The publish time of every tick is taken with ``time.monotonic``, the clock the
    writer stamps its commits with (the ``on_commit`` hook).
    """
    count = max(1, int(rate * seconds))
    published_at = [0.0] * count
    # (first seq, size, commit time) per batch: the latencies are worked out after the
    # run, so that the bookkeeping does not compete with the producer and the writer.
    commits: list[tuple[int, int, float]] = []

    def on_commit(batch: list[Message], committed_at: float) -> None:
        commits.append((batch[0].seq, len(batch), committed_at))

    monotonic = time.monotonic
    available = len(ticks)
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(
            bus, MAIN, path, max_batch=max_batch, max_delay=max_delay, on_commit=on_commit
        ) as writer,
    ):
        publish = bus.publish_nowait
        first_seq = bus.published + 1
        probe = RunQueueProbe()
        started = monotonic()
        i = 0
        while i < count:
            due = min(count, int((monotonic() - started) * rate) + 1)
            while i < due:
                tick = ticks[i % available]
                published_at[i] = monotonic()
                try:
                    publish(tick)
                except BusFull:
                    await bus.publish(tick)
                i += 1
            await anyio.sleep(_PACE)
        await bus.flush()
        elapsed = monotonic() - started
        disturbance = probe.stop(elapsed)
        statistics = writer.statistics()
    batch_sizes = [size for _, size, _ in commits]
    latencies = [
        (committed_at - published_at[seq - first_seq]) * 1000.0
        for first, size, committed_at in commits
        for seq in range(first, first + size)
    ]
    stored = count_ticks(path)
    if stored != count or len(latencies) != count:
        raise RuntimeError(f"{path}: {stored} ticks stored, {len(latencies)} timed, {count} sent")
    return PacedRun(
        offered=rate,
        ticks=count,
        seconds=elapsed,
        latencies_ms=latencies,
        batch_sizes=batch_sizes,
        writer=statistics,
        disturbance=disturbance,
    )


def _rate_label(rate: float) -> str:
    return f"{rate / 1000:g}k/s" if rate >= 1000 else f"{rate:g}/s"


async def latency(ctx: Context) -> ScenarioResult:
    """Publish-to-commit latency percentiles at each offered rate."""
    config = ctx.config
    runs: dict[str, Any] = {}
    lines: list[Line] = []
    samples: dict[str, list[float]] = {}
    for rate in config.latency_rates:
        label = _rate_label(rate)
        ctx.status(f"{label} offered for {config.latency_seconds:g} s")
        run = await paced_ingest(
            ctx.db_path(f"latency-{rate}"),
            ctx.ticks,
            rate=rate,
            seconds=config.latency_seconds,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
        )
        figures = run.figures()
        runs[str(rate)] = figures
        samples[f"{label} offered"] = run.latencies_ms
        summary = figures["latency"]
        batches = figures["batches"]
        lines.append(
            Line(
                scenario="latency",
                label=f"{label} offered",
                rate=run.achieved,
                unit="ticks/s",
                comparable=False,
                note=f"p50 {summary['p50_ms']:.1f} / p99 {summary['p99_ms']:.1f} / "
                f"max {summary['max_ms']:.1f} ms; batch mean {batches['mean']:.0f} "
                f"max {batches['max']}; commit {run.writer.mean_commit_ms:.1f} ms",
            )
        )
    figures = {
        "max_batch": config.max_batch,
        "max_delay_ms": config.max_delay * 1000,
        "rates": runs,
    }
    return ScenarioResult(name="latency", figures=figures, lines=lines, latencies_ms=samples)


async def batch_sweep(ctx: Context) -> ScenarioResult:
    """Full-speed ingest and p99 latency at ``sweep_rate`` for each batch setting."""
    config = ctx.config
    settings = []
    lines = []
    for max_batch, max_delay in config.sweep:
        name = f"batch {max_batch} / {max_delay * 1000:g} ms"
        ctx.status(f"{name}: full speed")
        ingest = await ingest_tradebus(
            ctx.db_path(f"sweep-{max_batch}"),
            ctx.ticks,
            max_batch=max_batch,
            max_delay=max_delay,
        )
        ctx.status(f"{name}: {_rate_label(config.sweep_rate)} offered")
        paced = await paced_ingest(
            ctx.db_path(f"sweep-{max_batch}-paced"),
            ctx.ticks,
            rate=config.sweep_rate,
            seconds=config.latency_seconds,
            max_batch=max_batch,
            max_delay=max_delay,
        )
        paced_figures = paced.figures()
        summary = paced_figures["latency"]
        settings.append(
            {
                "max_batch": max_batch,
                "max_delay_ms": max_delay * 1000,
                "ticks_per_s": ingest.rate,
                "seconds": ingest.seconds,
                "writer": writer_figures(ingest.writer),
                "paced": paced_figures,
            }
        )
        lines.append(
            Line(
                scenario="batch-sweep",
                label=name,
                rate=ingest.rate,
                unit="ticks/s",
                note=f"p99 {summary['p99_ms']:.1f} ms at {_rate_label(config.sweep_rate)}; "
                f"mean batch {ingest.writer.mean_batch:.0f} at full speed",
            )
        )
    figures = {"ticks": len(ctx.ticks), "sweep_rate": config.sweep_rate, "settings": settings}
    return ScenarioResult(name="batch-sweep", figures=figures, lines=lines)
