"""import-ticks: ``tradebus import ticks`` of a HistData file, against two baselines
measured in the same run: a plain script that parses the same file and inserts it with
sqlite3 ``executemany`` (the least work an import can do in Python), and the node's
in-process ingest of the same number of pre-built ticks (no parsing at all)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread

from tradebus._import import import_ticks
from writers import MAIN

from ._context import Context
from ._ingest import YIELD_EVERY, count_ticks, ingest_tradebus
from ._results import Line, ScenarioResult
from ._sched import load_average
from ._sqlite import TICK_INSERT, connect, create_database

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


def plain_import(path: Path, source: Path, *, batch: int, symbol: str = "EURUSD") -> float:
    """A plain script's import of a HistData file: each line split, its time read
    through a cache of minutes, its row inserted with ``executemany`` ``batch`` rows
    per transaction into a file made by the main database's migrations (no
    validation, no ledger, no candles). Returns the seconds it took."""
    create_database(path, MAIN)
    started = time.perf_counter()
    conn = connect(path)
    minutes: dict[str, int] = {}
    rows: list[tuple[Any, ...]] = []
    seq = 0

    def commit() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(TICK_INSERT, rows)
        conn.execute("COMMIT")
        rows.clear()

    try:
        with source.open() as f:
            for line in f:
                stamp, bid, ask, volume = line.rstrip("\n").split(",")
                base = minutes.get(stamp[:13])
                if base is None:
                    when = dt.datetime.strptime(stamp[:13], "%Y%m%d %H%M").replace(tzinfo=_EST)
                    base = minutes[stamp[:13]] = int(when.timestamp()) * 1_000_000_000
                seq += 1
                ts = base + int(stamp[13:]) * 1_000_000
                rows.append((symbol, ts, seq, float(bid), float(ask), None, float(volume), "plain"))
                if len(rows) >= batch:
                    commit()
        if rows:
            commit()
    finally:
        conn.close()
    return time.perf_counter() - started


async def import_ticks_scenario(ctx: Context) -> ScenarioResult:
    """``import_ticks`` of the run's ticks as a HistData file (parsing, hashing, the
    ledger, candles, the node's start and stop included), in rounds with the two
    baselines, in a rotating order; ratios are baseline seconds / import seconds."""
    config = ctx.config
    source = _histdata_file(ctx)
    rounds: list[dict[str, Any]] = []

    async def plain() -> float:
        path = ctx.db_path("import-ticks-plain")
        seconds = await anyio.to_thread.run_sync(
            lambda: plain_import(path, source, batch=config.max_batch)
        )
        if count_ticks(path) != len(ctx.ticks):
            raise RuntimeError(f"{path}: {count_ticks(path)} ticks, {len(ctx.ticks)} in the file")
        return seconds

    async def in_process() -> float:
        reference = await ingest_tradebus(
            ctx.db_path("import-ticks-in-process"),
            ctx.ticks,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
            yield_every=YIELD_EVERY,
        )
        return reference.seconds

    async def imported() -> float:
        return float((await _import_once(ctx, source))["seconds"])

    runs: dict[str, Callable[[], Any]] = {
        "import": imported,
        "plain": plain,
        "in-process": in_process,
    }
    names = list(runs)
    for i in range(config.repeat):
        ctx.status(f"round {i + 1}/{config.repeat}")
        order = names[i % 3 :] + names[: i % 3]
        seconds = {name: await runs[name]() for name in order}
        rounds.append(
            {
                "order": order,
                "seconds": seconds,
                "ratio_to_plain": seconds["plain"] / seconds["import"],
                "ratio_to_in_process": seconds["in-process"] / seconds["import"],
                "load1": load_average(),
            }
        )
    to_plain = statistics.median(r["ratio_to_plain"] for r in rounds)
    to_in_process = statistics.median(r["ratio_to_in_process"] for r in rounds)
    best = min(r["seconds"]["import"] for r in rounds)
    ticks = len(ctx.ticks)
    figures: dict[str, Any] = {
        "ticks": ticks,
        "file_bytes": source.stat().st_size,
        "seconds": best,
        "ticks_per_s": ticks / best,
        "plain_ticks_per_s": ticks / min(r["seconds"]["plain"] for r in rounds),
        "in_process_ticks_per_s": ticks / min(r["seconds"]["in-process"] for r in rounds),
        "ratio_to_plain": to_plain,
        "ratio_to_in_process": to_in_process,
        "ratios_to_plain": [r["ratio_to_plain"] for r in rounds],
        "ratios": [r["ratio_to_in_process"] for r in rounds],
        "rounds": rounds,
    }
    line = Line(
        scenario="import-ticks",
        label="tradebus import ticks (HistData file -> parse -> bus -> main)",
        rate=figures["ticks_per_s"],
        unit="ticks/s",
        note=f"{to_plain:.2f}x a plain parse + executemany script, {to_in_process:.2f}x "
        f"in-process ingest of pre-built ticks (medians of {len(rounds)})",
    )
    return ScenarioResult(name="import-ticks", figures=figures, lines=[line])
