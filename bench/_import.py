"""import-ticks: ``tradebus import ticks`` of a HistData file against in-process ingest."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

from tradebus._import import import_ticks

from ._context import Context
from ._ingest import YIELD_EVERY, count_ticks, ingest_tradebus, writer_figures
from ._results import Line, ScenarioResult
from ._sched import load_average

__all__ = ["import_ticks_scenario"]

#: HistData's zone: EST without daylight saving.
_EST = dt.timezone(dt.timedelta(hours=-5))


def _histdata_file(ctx: Context) -> Path:
    """The run's ticks as one symbol's HistData ASCII tick file (4 ticks a second)."""
    path = ctx.fresh_dir("import-ticks-file") / "DAT_ASCII_EURUSD_T_202401.csv"
    start = dt.datetime(2024, 1, 2, 17, 0, tzinfo=_EST)
    lines = []
    for i, tick in enumerate(ctx.ticks):
        when = start + dt.timedelta(milliseconds=250 * i)
        stamp = when.strftime("%Y%m%d %H%M%S") + f"{when.microsecond // 1000:03d}"
        lines.append(f"{stamp},{tick.bid:.6f},{tick.ask:.6f},0\n")
    path.write_text("".join(lines))
    return path


async def _import_once(ctx: Context, source: Path) -> dict[str, Any]:
    data = ctx.fresh_dir("import-ticks")
    started = time.perf_counter()
    result = await import_ticks(data, source, "EURUSD")
    seconds = time.perf_counter() - started
    stored = count_ticks(data / "unified_tick_pipeline.db")
    if stored != len(ctx.ticks) or result.ticks != stored:
        raise RuntimeError(f"{data}: {stored} ticks stored, {len(ctx.ticks)} in the file")
    return {"seconds": seconds, "import_seconds": result.seconds, "via": result.via}


async def import_ticks_scenario(ctx: Context) -> ScenarioResult:
    """``import_ticks`` of the run's ticks as a HistData file (parsing, hashing, the
    node's start and stop included), paired with the in-process ingest of the same
    number of pre-built ticks (the yielding producer), each first in every other pair."""
    config = ctx.config
    source = _histdata_file(ctx)
    pairs: list[dict[str, Any]] = []
    for i in range(config.repeat):
        ctx.status(f"pair {i + 1}/{config.repeat}")
        import_first = i % 2 == 1
        if import_first:
            imported = await _import_once(ctx, source)
        reference = await ingest_tradebus(
            ctx.db_path("import-ticks-in-process"),
            ctx.ticks,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
            yield_every=YIELD_EVERY,
        )
        if not import_first:
            imported = await _import_once(ctx, source)
        pairs.append(
            {
                "first": "import" if import_first else "in-process",
                "ratio": reference.seconds / imported["seconds"],
                "import_seconds": imported["seconds"],
                "in_process_seconds": reference.seconds,
                "in_process_writer": writer_figures(reference.writer),
                "load1": load_average(),
            }
        )
    ratio = statistics.median(pair["ratio"] for pair in pairs)
    best = min(pair["import_seconds"] for pair in pairs)
    in_process = min(pair["in_process_seconds"] for pair in pairs)
    ticks = len(ctx.ticks)
    figures: dict[str, Any] = {
        "ticks": ticks,
        "file_bytes": source.stat().st_size,
        "seconds": best,
        "ticks_per_s": ticks / best,
        "in_process_ticks_per_s": ticks / in_process,
        "ratio_to_in_process": ratio,
        "ratios": [pair["ratio"] for pair in pairs],
        "pairs": pairs,
    }
    line = Line(
        scenario="import-ticks",
        label="tradebus import ticks (HistData file -> parse -> bus -> main)",
        rate=figures["ticks_per_s"],
        unit="ticks/s",
        note=f"paired with in-process ingest of pre-built ticks {ratio:.2f}x "
        f"(median of {len(pairs)})",
    )
    return ScenarioResult(name="import-ticks", figures=figures, lines=[line])
