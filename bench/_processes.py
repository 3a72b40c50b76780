"""The multi-process scenarios: shared-file vs three-files, and read-under-write."""

from __future__ import annotations

import functools
import json
import queue
import statistics
from typing import Any

import anyio

import writers
from writers import MAIN

from ._child import LineProcess
from ._context import Context
from ._ingest import IngestRun, ingest_tradebus, writer_figures
from ._results import Line, ScenarioResult
from ._sqlite import create_shared_database

__all__ = ["Worker", "WorkerError", "read_under_write", "shared_file", "three_files"]

_KINDS = ("ticks", "trades", "logs")
_START_TIMEOUT = 120.0  # a worker builds its ticks before it is ready; this machine is slow


class WorkerError(RuntimeError):
    """A worker process failed, or did not answer in time."""


class Worker(LineProcess):
    """One ``python -m bench._worker`` process and its line protocol."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        super().__init__("bench._worker", params)

    def _next_line(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerError(f"worker {self._name} did not answer within {timeout:g} s") from None
        if line is None:
            self.process.wait()
            raise WorkerError(
                f"worker {self._name} exited with status {self.process.returncode}:\n"
                + self.stderr_text()
            )
        return line

    @property
    def _name(self) -> str:
        return f"{self.params.get('role')}/{self.params.get('kind', '')}"

    def wait_ready(self, timeout: float = _START_TIMEOUT) -> None:
        line = self._next_line(timeout)
        if json.loads(line) != "ready":
            raise WorkerError(f"worker {self._name} said {line!r} instead of ready")

    def result(self, timeout: float) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self._next_line(timeout))
        self.process.wait(timeout=timeout)
        return payload


def run_together(params: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """Start the workers, let them all go at once, return their results."""
    workers = [Worker(p) for p in params]
    try:
        for worker in workers:
            worker.wait_ready()
        for worker in workers:
            worker.send("go")
        return [worker.result(timeout=seconds + _START_TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            worker.close()


def _summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = max(r["seconds"] for r in results)
    committed = sum(r["committed"] for r in results)
    locked = sum(r["lock_errors"] for r in results)
    return {
        "processes": {
            r["kind"]: r | {"rows_per_s": r["committed"] / r["seconds"]} for r in results
        },
        "committed": committed,
        "seconds": seconds,
        "rows_per_s": committed / seconds,
        "lock_errors": locked,
        "other_errors": sum(r["other_errors"] for r in results),
        "lock_error_rate": locked / (committed + locked) if committed + locked else 0.0,
    }


def _per_kind(figures: dict[str, Any]) -> str:
    return ", ".join(f"{kind} {figures['processes'][kind]['rows_per_s']:,.0f}/s" for kind in _KINDS)


async def shared_file(ctx: Context) -> ScenarioResult:
    """Three processes committing row by row into one shared file, as of old."""
    config = ctx.config
    path = ctx.fresh_dir("shared-file") / "shared.db"
    create_shared_database(path)
    common = {
        "role": "shared",
        "path": str(path),
        "seconds": config.seconds,
        "busy_timeout": config.busy_timeout,
        "seed": config.seed,
        "ticks": config.ticks,
        "symbols": config.symbols,
    }
    ctx.status(f"3 processes for {config.seconds:g} s")
    results = await anyio.to_thread.run_sync(
        run_together, [common | {"kind": kind} for kind in _KINDS], config.seconds
    )
    figures = _summarize(results)
    figures["busy_timeout_ms"] = config.busy_timeout * 1000
    figures["row_max_ms"] = max(r["row_max_ms"] for r in results)
    line = Line(
        scenario="shared-file",
        label="3 processes, 1 file, commit per row",
        rate=figures["rows_per_s"],
        unit="rows/s",
        note=f"{figures['lock_errors']:,} 'database is locked' "
        f"({figures['lock_error_rate']:.1%} of attempts, busy timeout "
        f"{config.busy_timeout * 1000:g} ms); slowest row {figures['row_max_ms']:.0f} ms; "
        f"{_per_kind(figures)}",
    )
    return ScenarioResult(name="shared-file", figures=figures, lines=[line])


async def three_files(ctx: Context) -> ScenarioResult:
    """The same three processes, each with its own bus, writer and database file."""
    config = ctx.config
    folder = ctx.fresh_dir("three-files")
    params = [
        {
            "role": "own",
            "kind": kind,
            "path": str(folder / f"{kind}.db"),
            "seconds": config.seconds,
            "seed": config.seed,
            "ticks": config.ticks,
            "symbols": config.symbols,
            "max_batch": config.max_batch,
            "max_delay": config.max_delay,
        }
        for kind in _KINDS
    ]
    ctx.status(f"3 processes for {config.seconds:g} s")
    results = await anyio.to_thread.run_sync(run_together, params, config.seconds)
    figures = _summarize(results)
    line = Line(
        scenario="three-files",
        label="3 processes, own writer + file each",
        rate=figures["rows_per_s"],
        unit="rows/s",
        note=f"{figures['lock_errors']:,} lock errors; {_per_kind(figures)}",
    )
    return ScenarioResult(name="three-files", figures=figures, lines=[line])


async def read_under_write(ctx: Context) -> ScenarioResult:
    """The tradebus ingest while a reader process queries the latest ticks in a loop
    (``reader_rate`` queries/s, or as fast as it can).

    Each run is paired with a tradebus run without the reader right before it; the
    median of the pairs' ratios is the figure compared with the target.
    """
    config = ctx.config
    runs: list[tuple[IngestRun, dict[str, Any]]] = []
    alones: list[IngestRun] = []
    pair_ratios: list[float] = []
    for i in range(config.repeat):
        ctx.status(f"run {i + 1}/{config.repeat}: alone")
        alone = await ingest_tradebus(
            ctx.db_path("read-under-write-alone"),
            ctx.ticks,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
        )
        ctx.status(f"run {i + 1}/{config.repeat}: with the reader")
        path = ctx.db_path("read-under-write")
        await writers.create_database(MAIN, path)  # the reader opens it before the writer
        reader = Worker(
            {
                "role": "reader",
                "path": str(path),
                "symbols": config.symbols,
                "rate": config.reader_rate,
            }
        )
        try:
            await anyio.to_thread.run_sync(reader.wait_ready)
            run = await ingest_tradebus(
                path,
                ctx.ticks,
                max_batch=config.max_batch,
                max_delay=config.max_delay,
                during=functools.partial(reader.send, "go"),
            )
            reader.send("stop")
            answer = await anyio.to_thread.run_sync(reader.result, _START_TIMEOUT)
        finally:
            reader.close()
        runs.append((run, answer))
        alones.append(alone)
        pair_ratios.append(alone.seconds / run.seconds)
    best, answer = min(runs, key=lambda pair: pair[0].seconds)
    ratio = statistics.median(pair_ratios)
    queries_per_s = answer["queries"] / answer["seconds"]
    pace = f"{config.reader_rate:,} queries/s" if config.reader_rate else "unpaced"
    figures: dict[str, Any] = {
        "ticks": best.ticks,
        "seconds": best.seconds,
        "ticks_per_s": best.rate,
        "runs_s": [run.seconds for run, _ in runs],
        "paired_ratios_to_tradebus": pair_ratios,
        "disturbances": [
            {"alone": alone.disturbance.to_json(), "with_reader": run.disturbance.to_json()}
            for alone, (run, _) in zip(alones, runs, strict=True)
        ],
        "ratio_to_tradebus": ratio,
        "writer": writer_figures(best.writer),
        "reader": answer | {"queries_per_s": queries_per_s},
    }
    lines = [
        Line(
            scenario="read-under-write",
            label=f"tradebus ingest, 1 reader process ({pace})",
            rate=best.rate,
            unit="ticks/s",
            note=f"paired with tradebus alone {ratio:.2f}x; reader {queries_per_s:,.0f} "
            f"queries/s using {answer['cpu_seconds'] / answer['seconds']:.0%} of a CPU, "
            f"{answer['errors']} errors",
        )
    ]
    return ScenarioResult(name="read-under-write", figures=figures, lines=lines)
