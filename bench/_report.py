"""The run's report: ratios, the performance targets, the terminal table and the JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ._config import BenchConfig
from ._cross import cross_targets
from ._results import Line, ScenarioResult, Target

__all__ = ["apply_ratios", "check_targets", "render", "write_json"]


def _rate(results: Mapping[str, ScenarioResult], name: str, key: str) -> float | None:
    result = results.get(name)
    if result is None:
        return None
    value = result.figures.get(key)
    return float(value) if isinstance(value, int | float) else None


def apply_ratios(results: Mapping[str, ScenarioResult]) -> list[Line]:
    """Every line of every scenario, with its ratio to ``ceiling`` and ``naive`` filled in."""
    ceiling = _rate(results, "ceiling", "ticks_per_s")
    naive = _rate(results, "naive", "ticks_per_s")
    lines = [line for result in results.values() for line in result.lines]
    for line in lines:
        if line.comparable and line.rate is not None:
            line.to_ceiling = line.rate / ceiling if ceiling else None
            line.to_naive = line.rate / naive if naive else None
    return lines


def _check(name: str, required: str, measured: str | None, passed: bool | None) -> Target:
    if measured is None:
        return Target(name=name, required=required, measured="not run", passed=None)
    return Target(name=name, required=required, measured=measured, passed=passed)


def _paired_target(
    results: Mapping[str, ScenarioResult], name: str, what: str, key: str, required: float
) -> Target:
    result = results.get(name)
    ratio = None if result is None else result.figures.get(key)
    calm = None if result is None else result.figures.get(f"{key}_undisturbed")
    measured = None
    if ratio is not None:
        calm_text = "no undisturbed pair" if calm is None else f"undisturbed {calm:.2f}x"
        measured = f"{ratio:.2f}x ({calm_text})"
    return _check(
        what, f">= {required:.2f}x", measured, None if ratio is None else ratio >= required
    )


def check_targets(results: Mapping[str, ScenarioResult], config: BenchConfig) -> list[Target]:
    """The performance targets, checked against this run's figures."""
    targets = [
        _paired_target(
            results,
            "tradebus",
            "tradebus vs ceiling, producer not yielding (median of pairs)",
            "paired_ratio_to_ceiling",
            1.1,
        ),
        _paired_target(
            results,
            "tradebus-yielding",
            "tradebus vs ceiling, producer yielding every 500 (median of pairs)",
            "paired_ratio_to_ceiling",
            1.1,
        ),
    ]
    tradebus = _rate(results, "tradebus", "ticks_per_s")
    naive = _rate(results, "naive", "ticks_per_s")
    ratio = tradebus / naive if tradebus and naive else None
    targets.append(
        _check(
            "tradebus vs naive",
            ">= 100x",
            None if ratio is None else f"{ratio:,.0f}x",
            None if ratio is None else ratio >= 100,
        )
    )
    targets.append(
        _paired_target(
            results,
            "bus",
            "bus vs anyio memory stream, CPU time (median of pairs)",
            "ratio_to_stream",
            0.5,
        )
    )
    lone = results.get("lone-call")
    if lone is not None and lone.figures["ratio_to_commit"] is not None:
        figures = lone.figures
        targets.append(
            _check(
                "lone log_trade_execution round trip (p50) on an idle node",
                f"<= 2 x mean commit (2 x {figures['mean_commit_ms']:.2f} ms)",
                f"{figures['round_trip_p50_ms']:.2f} ms (p90 {figures['round_trip_p90_ms']:.2f})",
                figures["ratio_to_commit"] <= 2.0,
            )
        )
    else:
        targets.append(
            _check("lone log_trade_execution round trip (p50)", "<= 2 x mean commit", None, None)
        )
    latency = results.get("latency")
    at_50k = None if latency is None else latency.figures["rates"].get("50000")
    budget_ms = config.max_delay * 1000
    if at_50k is not None:
        p99 = at_50k["latency"]["p99_ms"]
        commit = at_50k["writer"]["mean_commit_ms"]
        targets.append(
            _check(
                "p99 publish-to-commit at 50k ticks/s offered",
                f"< max_delay + mean commit = {budget_ms:g} + {commit:.1f} "
                f"= {budget_ms + commit:.1f} ms",
                f"{p99:.1f} ms",
                p99 < budget_ms + commit,
            )
        )
    else:
        targets.append(
            _check("p99 publish-to-commit at 50k ticks/s offered",
                   f"< max_delay ({budget_ms:g} ms) + mean commit", None, None)
        )  # fmt: skip
    over = results.get("overload")
    per_tick = None if over is None else over.figures.get("bytes_per_buffered_tick")
    targets.append(
        _check(
            "memory at 10x overload (reported, no limit)",
            "bytes per buffered tick; peak RSS",
            None
            if over is None
            else f"{'n/a' if per_tick is None else f'{per_tick:,.0f} B'}; "
            f"{over.figures['peak_rss_bytes'] / 2**20:,.0f} MiB",
            None,
        )
    )
    three = results.get("three-files")
    locked = None if three is None else int(three.figures["lock_errors"])
    targets.append(
        _check(
            "three-files lock errors",
            "0",
            None if locked is None else str(locked),
            None if locked is None else locked == 0,
        )
    )
    under = results.get("read-under-write")
    ratio = None if under is None else under.figures.get("ratio_to_tradebus")
    targets.append(
        _check(
            "read-under-write vs tradebus (median of pairs)",
            ">= 0.90x",
            None if ratio is None else f"{ratio:.2f}x",
            None if ratio is None else ratio >= 0.9,
        )
    )
    targets.extend(cross_targets(dict(results)))
    targets.append(
        _paired_target(
            results,
            "pg-ticks",
            "pg-ticks vs plain asyncpg COPY of the same rows (median of pairs)",
            "ratio_to_copy",
            0.8,
        )
    )
    return targets


def _ratio(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return ""
    if 0 < value < 0.1:
        return f"{value:.2g}x"
    return f"{value:,.{digits}f}x"


def render(lines: list[Line], targets: list[Target], title: str) -> RenderableType:
    """The terminal table of every figure, and the targets below it."""
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("scenario", style="bold")
    table.add_column("what")
    table.add_column("rate", justify="right")
    table.add_column("x ceiling", justify="right")
    table.add_column("x naive", justify="right")
    table.add_column("notes", overflow="fold")
    for line in lines:
        rate = "" if line.rate is None else f"{line.rate:,.0f} {line.unit}"
        table.add_row(
            line.scenario,
            line.label,
            rate,
            _ratio(line.to_ceiling, 2),
            _ratio(line.to_naive, 0),
            line.note,
        )
    checks = Table(title="targets", box=box.SIMPLE, title_justify="left")
    checks.add_column("target")
    checks.add_column("required")
    checks.add_column("measured", justify="right")
    checks.add_column("")
    for target in targets:
        verdict = {True: Text("PASS", "green"), False: Text("MISS", "bold red"), None: Text("-")}
        checks.add_row(target.name, target.required, target.measured, verdict[target.passed])
    return Group(table, checks)


def _clean(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON (atomically: a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(_clean(payload), indent=2) + "\n")
    partial.replace(path)
