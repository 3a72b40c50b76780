"""Memory under overload: producers offering 10x what the writer commits.

The scenario runs in its own process (``python -m bench._worker``), so that its
resident set size is its own: a writer with small batches (so that its capacity
is low and measurable), a producer paced at ten times that capacity, building a
fresh ``Tick`` per publish as a feed does. The writer's buffer fills up to its
``max_buffer``, then backpressure holds the producer. The worker reports the
bytes of resident memory per buffered tick (RSS growth over the baseline at the
moment the most ticks were waiting) and the peak RSS.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import anyio

import schemas
from eventbus import BusFull, EventBus
from schemas import Tick
from writers import MAIN, WriterActor

from ._context import Context
from ._processes import run_together
from ._results import Line, ScenarioResult
from ._ticks import symbol_names

__all__ = ["OVERLOAD_FACTOR", "overload", "run_overload"]

#: How many times the writer's measured capacity the producer offers.
OVERLOAD_FACTOR = 10
#: The writer's batches in this scenario: small, so that it is the bottleneck.
_MAX_BATCH = 10
_MAX_DELAY = 0.01
_WARM_UP = 500
_CAPACITY_TICKS = 2_000
_PACE = 0.001
_BURST = 1_000


def _status_kb(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS, where Linux allows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Feed:
    """Fresh ticks of a seeded random walk, one per call."""

    def __init__(self, symbols: int, seed: int) -> None:
        self.names = symbol_names(symbols)
        self.rng = random.Random(seed)
        self.ts = 1_767_225_600_000_000_000

    def __call__(self) -> Tick:
        rng = self.rng
        price = 100.0 + rng.random()
        self.ts += 1_000
        return Tick(symbol=self.names[rng.randrange(len(self.names))], bid=price,
                    ask=price + 0.01, last=price + 0.005, volume=1.0, source="bench",
                    ts=self.ts)  # fmt: skip


async def _overload(params: dict[str, Any]) -> dict[str, Any]:
    feed = _Feed(int(params["symbols"]), int(params["seed"]))
    max_buffer = int(params["max_buffer"])
    seconds = float(params["seconds"])
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(
            bus, MAIN, params["path"], max_batch=_MAX_BATCH, max_delay=_MAX_DELAY,
            max_buffer=max_buffer,
        ) as writer,
    ):  # fmt: skip
        publish = bus.publish_nowait
        for _ in range(_WARM_UP):  # every path once
            await bus.publish(feed())
        await bus.flush()
        started = time.perf_counter()
        for _ in range(_CAPACITY_TICKS):
            try:
                publish(feed())
            except BusFull:
                await bus.publish(feed())
        await bus.flush()
        capacity = _CAPACITY_TICKS / (time.perf_counter() - started)
        offered = OVERLOAD_FACTOR * capacity
        committed_before = writer.statistics().events
        gc.collect()
        peak_reset = _reset_peak()
        baseline_kb = _status_kb("VmRSS") or 0
        most_pending, rss_at_most_kb = 0, baseline_kb
        published = refused = 0
        began = time.perf_counter()
        while (now := time.perf_counter()) - began < seconds:
            due = int((now - began) * offered) + 1
            # A burst at most: behind schedule (held by backpressure), look at the
            # clock and the buffer again every _BURST ticks.
            until = min(due, published + _BURST)
            while published < until:
                tick = feed()
                try:
                    publish(tick)
                except BusFull:
                    refused += 1
                    await bus.publish(tick)  # backpressure: wait for room
                published += 1
            pending = writer.statistics().pending
            if pending > most_pending:
                most_pending, rss_at_most_kb = pending, _status_kb("VmRSS") or 0
            if published >= due:
                await anyio.sleep(_PACE)
        elapsed = time.perf_counter() - began
        committed = writer.statistics().events - committed_before
        peak_kb = _status_kb("VmHWM") or 0
        grown = (rss_at_most_kb - baseline_kb) * 1024
        result = {
            "max_buffer": max_buffer,
            "writer_max_batch": _MAX_BATCH,
            "capacity_per_s": capacity,
            "offered_per_s": offered,
            "published_per_s": published / elapsed,
            "committed_per_s": committed / elapsed,
            "offered_to_committed": offered * elapsed / committed if committed else None,
            "published": published,
            "refused": refused,
            "seconds": elapsed,
            "most_buffered": most_pending,
            "baseline_rss_bytes": baseline_kb * 1024,
            "rss_at_most_buffered_bytes": rss_at_most_kb * 1024,
            "bytes_per_buffered_tick": grown / most_pending if most_pending else None,
            "peak_rss_bytes": peak_kb * 1024,
            "peak_reset": peak_reset,
        }
        # Exit at once, the backlog not drained: at a commit per ten ticks, draining
        # the full buffer would take minutes and measure nothing more.
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)
    raise AssertionError("unreachable")


def run_overload(params: dict[str, Any]) -> None:
    """The worker side: say ready, wait for go, overload, print the result, exit."""
    print(json.dumps("ready"), flush=True)
    sys.stdin.readline()
    anyio.run(_overload, params, backend="asyncio")


async def overload(ctx: Context) -> ScenarioResult:
    """Memory per buffered tick and peak RSS with producers at 10x the writer's capacity."""
    config = ctx.config
    params = {
        "role": "overload",
        "path": str(ctx.fresh_dir("overload") / "unified_tick_pipeline.db"),
        "symbols": config.symbols,
        "seed": config.seed,
        "max_buffer": config.overload_buffer,
        "seconds": config.seconds,
    }
    ctx.status(f"{OVERLOAD_FACTOR}x the writer's capacity for {config.seconds:g} s")
    [figures] = await anyio.to_thread.run_sync(run_together, [params], config.seconds)
    per_tick = figures["bytes_per_buffered_tick"]
    per_tick_text = "n/a" if per_tick is None else f"{per_tick:,.0f} B"
    committed = figures["committed_per_s"]
    factor = f"{figures['offered_per_s'] / committed:.0f}x" if committed else "n/a"
    line = Line(
        scenario="overload",
        label=f"producer at {OVERLOAD_FACTOR}x a writer of {_MAX_BATCH}-tick batches",
        rate=figures["published_per_s"],
        unit="ticks/s",
        comparable=False,
        note=f"{per_tick_text}/buffered tick ({figures['most_buffered']:,} buffered); peak "
        f"RSS {figures['peak_rss_bytes'] / 2**20:,.0f} MiB; offered {factor} what the writer "
        f"committed ({committed:,.0f}/s)",
    )
    return ScenarioResult(name="overload", figures=figures, lines=[line])
