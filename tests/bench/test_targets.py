"""The targets table: each target's verdict comes from the run's own figures; --check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import bench
from bench import _cli
from bench._config import BenchConfig
from bench._pairs import Pair, summarize_pairs
from bench._plot import latency_ticks
from bench._report import check_targets, render
from bench._results import ScenarioResult, Target
from bench._runner import Report
from bench._sched import Disturbance, RunQueueProbe


def _result(name: str, **figures: Any) -> ScenarioResult:
    return ScenarioResult(name=name, figures=figures, lines=[])


def _targets(**results: ScenarioResult) -> dict[str, Target]:
    config = BenchConfig.preset(quick=True, out=Path("unused"))
    return {t.name: t for t in check_targets(results, config)}


def _named(targets: dict[str, Target], start: str) -> Target:
    [target] = [t for name, t in targets.items() if name.startswith(start)]
    return target


def test_paired_ratios_below_their_targets_are_misses() -> None:
    targets = _targets(
        tradebus=_result(
            "tradebus",
            ticks_per_s=1.0,
            paired_ratio_to_ceiling=1.05,
            paired_ratio_to_ceiling_undisturbed=1.2,
        ),
        bus=_result("bus", ratio_to_stream=0.6, ratio_to_stream_undisturbed=None),
    )
    not_yielding = _named(targets, "tradebus vs ceiling, producer not yielding")
    assert not_yielding.passed is False  # the median of all pairs decides
    assert not_yielding.measured == "1.05x (undisturbed 1.20x)"
    assert _named(targets, "tradebus vs ceiling, producer yielding").passed is None  # not run
    assert _named(targets, "bus vs anyio memory stream").passed is True


def test_the_latency_target_is_max_delay_plus_the_same_runs_mean_commit() -> None:
    at_50k = {"latency": {"p99_ms": 60.0}, "writer": {"mean_commit_ms": 12.5}}
    target = _named(_targets(latency=_result("latency", rates={"50000": at_50k})), "p99")
    assert target.required == "< max_delay + mean commit = 50 + 12.5 = 62.5 ms"
    assert target.passed is True


def test_a_lone_call_slower_than_two_commits_is_a_miss() -> None:
    lone = _result(
        "lone-call",
        round_trip_p50_ms=3.0,
        round_trip_p90_ms=4.0,
        mean_commit_ms=1.0,
        ratio_to_commit=3.0,
    )
    target = _named(_targets(**{"lone-call": lone}), "lone log_trade_execution")
    assert target.passed is False
    assert "2 x 1.00 ms" in target.required


def test_the_table_says_pass_and_miss() -> None:
    console = Console(width=200, record=True)
    console.print(
        render(
            [],
            [
                Target(name="a", required=">= 1", measured="2", passed=True),
                Target(name="b", required=">= 1", measured="0", passed=False),
            ],
            "title",
        )
    )
    text = console.export_text()
    assert "PASS" in text
    assert "MISS" in text


@pytest.mark.parametrize(("passed", "status"), [(False, 1), (True, 0), (None, 0)])
def test_check_exits_1_on_a_miss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, passed: bool | None, status: int
) -> None:
    async def fake_run(config: BenchConfig, console: Console) -> Report:
        target = Target(name="t", required="r", measured="m", passed=passed)
        return Report(
            payload={}, lines=[], targets=[target], json_path=tmp_path / "x.json", plot_path=None
        )

    monkeypatch.setattr(_cli, "run_bench", fake_run)
    assert bench.main(["--quick", "--check", "--out", str(tmp_path)]) == status


def test_a_run_whose_threads_waited_for_a_cpu_is_disturbed() -> None:
    calm = Disturbance(wall_s=1.0, wait_s=0.05, load1=0.5)
    busy = Disturbance(wall_s=1.0, wait_s=0.2, load1=2.5)
    assert not calm.disturbed
    assert busy.disturbed
    summary = summarize_pairs(
        [
            Pair(ratio=1.0, reference=calm, measured=calm),
            Pair(ratio=2.0, reference=calm, measured=busy),
            Pair(ratio=3.0, reference=busy, measured=calm),
        ]
    )
    assert summary["ratio"] == 2.0
    assert summary["ratio_undisturbed"] == 1.0
    assert summary["pairs_undisturbed"] == 1


def test_the_probe_reads_this_process_threads() -> None:
    disturbance = RunQueueProbe().stop(0.5)
    assert disturbance.wait_s is not None  # Linux keeps schedstat for every thread
    assert disturbance.wait_s >= 0


@pytest.mark.parametrize(("low", "high"), [(2.9, 65.0), (0.3, 1200.0), (40.0, 60.0), (13, 80)])
def test_latency_axis_ticks_are_few_and_inside_the_data(low: float, high: float) -> None:
    ticks = latency_ticks(low, high)
    assert 3 <= len(ticks) <= 12
    assert all(low <= t <= high for t in ticks)
    assert ticks == sorted(set(ticks))
