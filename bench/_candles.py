"""Tick ingest with the candle service on, against the same ingest with it off."""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

from tradebus import CandleService, open_node

from ._context import Context
from ._ingest import YIELD_EVERY, count_ticks, publish_all
from ._results import Line, ScenarioResult

__all__ = ["candles"]

#: The role that owns the main database (the ticks and the candles).
ROLE = "chatgpt_bot"


def _node_options(max_batch: int, max_delay: float) -> dict[str, Any]:
    """The node's options with its own candles off (where a node builds candles by
    default, the service under test is the only one)."""
    return {"max_batch": max_batch, "max_delay": max_delay, "candles": (), "monitor": None}


async def _ingest(ctx: Context, folder: Path, with_candles: bool) -> dict[str, Any]:
    """Publish the run's ticks (the yielding producer) into a bot node; time it until
    the writer committed them all (and, with candles, the service took them all)."""
    config = ctx.config
    ticks = ctx.ticks
    options = _node_options(config.max_batch, config.max_delay)
    async with open_node(folder, roles=[ROLE], status_file=False, **options) as node:
        service = CandleService(node) if with_candles else None
        async with service if service is not None else contextlib.nullcontext():
            started, cpu_started = time.perf_counter(), time.process_time()
            await publish_all(node.bus, ticks, yield_every=YIELD_EVERY)
            await node.bus.flush()
            if service is not None:
                await service.caught_up()
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        stats = None if service is None else service.statistics()
    stored = count_ticks(folder / "unified_tick_pipeline.db")
    if stored != len(ticks):
        raise RuntimeError(f"{folder}: {stored} ticks stored, {len(ticks)} expected")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "ticks_per_s": len(ticks) / seconds,
        "finals": None if stats is None else stats.finals,
        "late_ticks": None if stats is None else stats.late_ticks,
    }


async def candles(ctx: Context) -> ScenarioResult:
    """Pairs of runs of the same ticks, the service off then on (on first in every
    other pair); the ratio of each pair's rates, and their median."""
    config = ctx.config
    pairs: list[dict[str, Any]] = []
    for n in range(config.repeat):
        runs: dict[str, dict[str, Any]] = {}
        for on in (n % 2 == 1, n % 2 == 0):
            ctx.status(f"pair {n + 1}/{config.repeat}: candles {'on' if on else 'off'}")
            runs["on" if on else "off"] = await _ingest(ctx, ctx.fresh_dir("candles"), on)
        ratio = runs["on"]["ticks_per_s"] / runs["off"]["ticks_per_s"]
        cpu = runs["on"]["cpu_seconds"] / runs["off"]["cpu_seconds"]
        pairs.append({"off": runs["off"], "on": runs["on"], "ratio": ratio, "cpu_ratio": cpu})
    ratio = statistics.median(p["ratio"] for p in pairs)
    cpu_ratio = statistics.median(p["cpu_ratio"] for p in pairs)
    best_on = max(p["on"]["ticks_per_s"] for p in pairs)
    best_off = max(p["off"]["ticks_per_s"] for p in pairs)
    figures: dict[str, Any] = {
        "ticks": len(ctx.ticks),
        "symbols": config.symbols,
        "timeframes": ["M1", "M5", "M15", "H1", "D1"],
        "ticks_per_s": best_on,
        "off_ticks_per_s": best_off,
        "ratio_to_off": ratio,
        "ratios": [p["ratio"] for p in pairs],
        "cpu_ratio": cpu_ratio,
        "pairs": pairs,
    }
    line = Line(
        scenario="candles",
        label="bot node ingest with the candle service (M1 M5 M15 H1 D1)",
        rate=best_on,
        unit="ticks/s",
        note=f"{ratio:.2f}x the same ingest with it off (median of {len(pairs)} pairs; "
        f"off: best {best_off:,.0f} ticks/s); CPU {cpu_ratio:.2f}x off's",
    )
    return ScenarioResult(name="candles", figures=figures, lines=[line])
