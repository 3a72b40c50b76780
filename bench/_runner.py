"""Runs the selected scenarios in order, with progress, and assembles the report."""

from __future__ import annotations

import dataclasses
import gc
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ._api import api_load
from ._bridge import bridge
from ._busmicro import bus
from ._candles import candles
from ._config import BenchConfig
from ._context import Context
from ._cross import cross_latency, cross_ticks, idle_cpu
from ._import import import_ticks_scenario
from ._ingest import ceiling, naive, tradebus, tradebus_yielding
from ._latency import batch_sweep, latency
from ._lone import lone_call
from ._machine import busy_warning, machine_info
from ._overload import overload
from ._pg import pg_ticks
from ._plot import write_plot
from ._processes import read_under_write, shared_file, three_files
from ._prune import prune
from ._report import apply_ratios, check_targets, render, write_json
from ._results import Line, ScenarioResult, Target
from ._switch import switch_interval
from ._ticks import make_ticks, tick_rows

__all__ = ["RUNNERS", "Report", "run_bench"]

Scenario = Callable[[Context], Awaitable[ScenarioResult]]

RUNNERS: Final[dict[str, Scenario]] = {
    "ceiling": ceiling,
    "naive": naive,
    "tradebus": tradebus,
    "tradebus-yielding": tradebus_yielding,
    "switch-interval": switch_interval,
    "read-under-write": read_under_write,
    "latency": latency,
    "batch-sweep": batch_sweep,
    "shared-file": shared_file,
    "three-files": three_files,
    "bus": bus,
    "lone-call": lone_call,
    "overload": overload,
    "cross-ticks": cross_ticks,
    "cross-latency": cross_latency,
    "idle-cpu": idle_cpu,
    "prune": prune,
    "import-ticks": import_ticks_scenario,
    "candles": candles,
    "api-load": api_load,
    "pg-ticks": pg_ticks,
    "bridge": bridge,
}


@dataclasses.dataclass(kw_only=True)
class Report:
    """What a run produced."""

    payload: dict[str, Any]
    lines: list[Line]
    targets: list[Target]
    json_path: Path
    plot_path: Path | None


def _headline(result: ScenarioResult) -> str:
    parts = [
        f"{line.rate:,.0f} {line.unit}" + (f" ({line.label})" if len(result.lines) > 1 else "")
        for line in result.lines
        if line.rate is not None
    ]
    return "; ".join(parts[:3]) + (" ..." if len(parts) > 3 else "")


async def run_bench(config: BenchConfig, console: Console) -> Report:
    """Run every selected scenario on the same ticks; write the JSON (and the plot)."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="work-", dir=config.out))
    durations: dict[str, float] = {}
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        # No refresh thread: it would wake ten times a second during timed runs,
        # taking the GIL and a CPU; the display is redrawn when the status changes.
        auto_refresh=False,
    )
    machine_at_start = machine_info()
    warning = busy_warning()
    if warning is not None:
        console.print(f"[yellow]warning:[/] {warning}")
    try:
        with progress:
            overall = progress.add_task("generating ticks", total=len(config.scenarios))
            ticks = make_ticks(config.ticks, config.symbols, config.seed)
            ctx = Context(config=config, workdir=workdir, ticks=ticks, rows=tick_rows(ticks))
            for name in config.scenarios:

                def status(text: str, name: str = name) -> None:
                    progress.update(overall, description=f"[bold]{name}[/]: {text}")
                    progress.refresh()

                ctx.status = status
                status("starting")
                gc.collect()
                began = time.perf_counter()
                result = ctx.results[name] = await RUNNERS[name](ctx)
                durations[name] = time.perf_counter() - began
                progress.advance(overall)
                progress.refresh()
                progress.console.log(f"[bold]{name}[/] {_headline(result)}")
            progress.update(overall, description="done")
    finally:
        if not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    results = ctx.results
    lines = apply_ratios(results)
    targets = check_targets(results, config)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    json_path = config.out / f"bench-{stamp}.json"
    title = (
        f"tradebus bench ({'quick' if config.quick else 'full'}), {config.ticks:,} ticks, "
        f"batch {config.max_batch}/{config.max_delay * 1000:g} ms, {stamp}"
    )
    payload: dict[str, Any] = {
        "tool": "tradebus bench",
        "started_at": started_at.isoformat(),
        "duration_s": time.perf_counter() - started,
        "machine": machine_at_start,
        "load_average_at_end": machine_info()["load_average"],
        "parameters": config.to_json(),
        "scenarios": {
            name: result.figures | {"duration_s": durations[name]}
            for name, result in results.items()
        },
        "table": [line.to_json() for line in lines],
        "targets": [target.to_json() for target in targets],
    }
    plot_path = None
    if config.plot:
        plot_path = write_plot(
            config.out / f"bench-{stamp}.png", lines, results, title, config.max_delay * 1000
        )
    payload["plot"] = None if plot_path is None else plot_path.name
    write_json(json_path, payload)
    console.print(render(lines, targets, title))
    if config.plot and plot_path is None:
        console.print(
            'no plot: matplotlib is not installed (pip install -e ".[plot]")', markup=False
        )
    return Report(
        payload=payload,
        lines=lines,
        targets=targets,
        json_path=json_path,
        plot_path=plot_path,
    )
