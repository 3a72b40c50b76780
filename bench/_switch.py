"""Whether writers need to shorten the interpreter's thread switch interval.

A writer shortens ``sys.setswitchinterval`` to 0.5 ms while it runs (a process-wide
side effect). This scenario measures the ``tradebus`` ingest with the writer's
default against ``switch_interval=None`` (the process's own interval, CPython's
5 ms unless someone changed it), in interleaved pairs, for both producers. Every
run checks that the process's interval is the same after it as before it.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Mapping
from typing import Any, Final

from ._context import Context
from ._ingest import YIELD_EVERY, IngestRun, ingest_tradebus, writer_figures
from ._pairs import Pair, pairs_note, summarize_pairs
from ._results import Line, ScenarioResult

__all__ = ["SETTINGS", "SwitchIntervalLeak", "checked_run", "switch_interval"]

#: The two settings compared: the writer's default (no argument), and ``None``.
SETTINGS: Final[dict[str, Mapping[str, Any]]] = {
    "default": {},
    "none": {"switch_interval": None},
}

#: The producers, by the key of their figures: never yielding but on backpressure,
#: and yielding every ``YIELD_EVERY`` ticks.
_PRODUCERS: Final[dict[str, int | None]] = {"not_yielding": None, "yielding": YIELD_EVERY}


class SwitchIntervalLeak(RuntimeError):
    """A run left the process's thread switch interval other than it found it, or a
    writer told to leave it alone changed it."""


async def checked_run(ctx: Context, setting: str, yield_every: int | None) -> IngestRun:
    """One ingest with the writer's ``setting``; the process's interval must survive it."""
    config = ctx.config
    before = sys.getswitchinterval()
    run = await ingest_tradebus(
        ctx.db_path(f"switch-interval-{setting}"),
        ctx.ticks,
        max_batch=config.max_batch,
        max_delay=config.max_delay,
        yield_every=yield_every,
        writer_options=SETTINGS[setting],
    )
    after = sys.getswitchinterval()
    if after != before:
        raise SwitchIntervalLeak(
            f"switch interval was {before * 1000:g} ms before a run with the writer's "
            f"{setting!r} setting and is {after * 1000:g} ms after it"
        )
    if setting == "none" and run.switch_interval != before:
        raise SwitchIntervalLeak(
            f"a writer with switch_interval=None ran at {run.switch_interval * 1000:g} ms; "
            f"the process had {before * 1000:g} ms"
        )
    return run


def _run_json(run: IngestRun) -> dict[str, Any]:
    busy = None if run.sqlite_cpu_seconds is None else run.sqlite_cpu_seconds / run.seconds
    cpu_share = None
    if run.sqlite_cpu_seconds is not None and run.cpu_seconds > 0:
        cpu_share = run.sqlite_cpu_seconds / run.cpu_seconds
    return {
        "seconds": run.seconds,
        "ticks_per_s": run.rate,
        "cpu_seconds": run.cpu_seconds,
        "sqlite_cpu_seconds": run.sqlite_cpu_seconds,
        "sqlite_busy_share": busy,
        "sqlite_share_of_cpu": cpu_share,
        "switch_interval_ms": run.switch_interval * 1000,
        "disturbed": run.disturbance.disturbed,
    }


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _setting_figures(runs: list[IngestRun]) -> dict[str, Any]:
    """The best run's rate and writer figures; the SQLite thread's shares (medians)."""
    best = min(runs, key=lambda run: run.seconds)
    each = [_run_json(run) for run in runs]
    return {
        "switch_interval_ms": best.switch_interval * 1000,
        "seconds": best.seconds,
        "ticks_per_s": best.rate,
        "cpu_us_per_tick": best.cpu_seconds / best.ticks * 1e6 if best.ticks else None,
        "sqlite_busy_share": _median([run["sqlite_busy_share"] for run in each]),
        "sqlite_share_of_cpu": _median([run["sqlite_share_of_cpu"] for run in each]),
        "runs": each,
        "writer": writer_figures(best.writer),
    }


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


async def switch_interval(ctx: Context) -> ScenarioResult:
    """The ingest with the writer's default switch interval against ``None``, paired.

    Each pair runs both settings back to back, ``None`` first in even pairs and the
    default first in odd ones; its ratio is the ``None`` run's seconds over the
    default run's (default ticks/s over ``None`` ticks/s).
    """
    config = ctx.config
    process_interval = sys.getswitchinterval()
    runs: dict[str, dict[str, list[IngestRun]]] = {
        producer: {setting: [] for setting in SETTINGS} for producer in _PRODUCERS
    }
    pairs: dict[str, list[Pair]] = {producer: [] for producer in _PRODUCERS}
    firsts: dict[str, list[str]] = {producer: [] for producer in _PRODUCERS}
    for i in range(config.repeat):
        order = ("none", "default") if i % 2 == 0 else ("default", "none")
        for producer, yield_every in _PRODUCERS.items():
            ctx.status(f"pair {i + 1}/{config.repeat}, {producer.replace('_', ' ')}")
            pair = {setting: await checked_run(ctx, setting, yield_every) for setting in order}
            for setting, run in pair.items():
                runs[producer][setting].append(run)
            pairs[producer].append(
                Pair(
                    ratio=pair["none"].seconds / pair["default"].seconds,
                    reference=pair["none"].disturbance,
                    measured=pair["default"].disturbance,
                )
            )
            firsts[producer].append(order[0])
    if sys.getswitchinterval() != process_interval:
        raise SwitchIntervalLeak("the scenario did not leave the switch interval as it found it")

    figures: dict[str, Any] = {
        "ticks": len(ctx.ticks),
        "symbols": config.symbols,
        "process_switch_interval_ms": process_interval * 1000,
    }
    lines: list[Line] = []
    for producer, yield_every in _PRODUCERS.items():
        summary = summarize_pairs(pairs[producer])
        for pair_json, first in zip(summary["pairs"], firsts[producer], strict=True):
            pair_json["first"] = first
        settings = {name: _setting_figures(runs[producer][name]) for name in SETTINGS}
        figures[producer] = {
            "yield_every": yield_every,
            **settings,
            "paired_ratio": summary["ratio"],
            "paired_ratio_undisturbed": summary["ratio_undisturbed"],
            "paired_ratios": summary["ratios"],
            "pairs": summary["pairs"],
        }
        what = "no yield" if yield_every is None else f"yield every {yield_every}"
        for name, figure in settings.items():
            interval = f"{figure['switch_interval_ms']:g} ms"
            label = (
                f"writer default ({interval}), {what}"
                if name == "default"
                else f"switch_interval=None ({interval}), {what}"
            )
            note = f"SQLite thread busy {_percent(figure['sqlite_busy_share'])} of the run"
            if name == "default":
                note = f"default/None paired {pairs_note(summary)}; {note}"
            lines.append(
                Line(
                    scenario="switch-interval",
                    label=label,
                    rate=figure["ticks_per_s"],
                    unit="ticks/s",
                    note=note,
                )
            )
    return ScenarioResult(name="switch-interval", figures=figures, lines=lines)
