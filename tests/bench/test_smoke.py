"""The harness runs end to end with tiny sizes and records every scenario (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_quick_run_writes_every_scenario_to_json(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--ticks",
        "2000",
        "--naive-ticks",
        "30",
        "--seconds",
        "0.3",
        "--rates",
        "2000,50000",
        "--lone-calls",
        "5",
        "--overload-buffer",
        "2000",
        "--bus-pairs",
        "2",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    [path] = tmp_path.glob("bench-*.json")
    results = json.loads(path.read_text())
    assert list(results["scenarios"]) == list(bench.SCENARIOS)
    assert {"cpu_count", "platform", "python", "sqlite"} <= set(results["machine"])
    assert results["parameters"]["ticks"] == 2000
    assert results["parameters"]["symbols"] == 24
    scenarios = results["scenarios"]
    assert scenarios["ceiling"]["ticks"] == 2000
    for name, yields in (("tradebus", None), ("tradebus-yielding", 500)):
        figures = scenarios[name]
        assert figures["ticks"] == 2000
        assert figures["yield_every"] == yields
        [pair] = figures["pairs"]  # --quick: one pair (a ceiling run, then this)
        assert figures["paired_ratio_to_ceiling"] == pair["ratio"] > 0
        for run in (pair["reference"], pair["measured"]):
            assert run["wall_s"] > 0
            assert run["run_queue_wait_s"] >= 0  # Linux: read from schedstat
            assert isinstance(run["disturbed"], bool)
    switch = scenarios["switch-interval"]
    assert switch["ticks"] == 2000
    assert switch["process_switch_interval_ms"] > 0
    for producer, yields in (("not_yielding", None), ("yielding", 500)):
        figures = switch[producer]
        assert figures["yield_every"] == yields
        [pair] = figures["pairs"]  # --quick: one pair (both settings, back to back)
        assert figures["paired_ratio"] == pair["ratio"] > 0
        assert pair["first"] == "none"
        for setting in ("default", "none"):
            assert figures[setting]["ticks_per_s"] > 0
            assert figures[setting]["sqlite_busy_share"] >= 0
            assert 0 <= figures[setting]["sqlite_share_of_cpu"] <= 1
            [run] = figures[setting]["runs"]
            assert run["switch_interval_ms"] == figures[setting]["switch_interval_ms"]
        none_ms = figures["none"]["switch_interval_ms"]
        assert none_ms == switch["process_switch_interval_ms"]  # left alone
        assert figures["default"]["switch_interval_ms"] <= min(0.5, none_ms)
    assert scenarios["naive"]["ticks"] == 30
    assert scenarios["three-files"]["lock_errors"] == 0
    assert set(scenarios["shared-file"]["processes"]) == {"ticks", "trades", "logs"}
    assert scenarios["read-under-write"]["reader"]["queries"] > 0
    assert set(scenarios["latency"]["rates"]) == {"2000", "50000"}
    assert len(scenarios["batch-sweep"]["settings"]) == 3
    bus = scenarios["bus"]
    assert bus["messages"] == 2000
    assert len(bus["pairs"]) == 2
    assert bus["ratio_to_stream"] > 0
    assert bus["bus_msgs_per_cpu_s"] > 0
    lone = scenarios["lone-call"]
    assert lone["calls"] == 5
    assert lone["commits"] >= 5  # one commit per call at least: each waits for its own
    assert lone["round_trip_p50_ms"] > 0
    assert lone["mean_commit_ms"] > 0
    overload = scenarios["overload"]
    assert overload["max_buffer"] == 2000
    assert overload["published"] > 0
    assert overload["peak_rss_bytes"] > 0
    assert "bytes_per_buffered_tick" in overload
    assert "disturbance" in scenarios["latency"]["rates"]["50000"]
    cross = scenarios["cross-ticks"]  # every tick stored by the owner's process, or it fails
    assert cross["ticks"] == 2000
    [cross_pair] = cross["pairs"]
    assert cross["ratio_to_in_process"] == cross_pair["ratio"] > 0
    assert cross_pair["owner"]["writer"]["events"] == 2000
    assert sum(r["delivered"] for r in cross_pair["owner"]["relays"].values()) == 2000
    for condition in ("idle", "under_load"):
        figures = scenarios["cross-latency"][condition]
        assert figures["committed"]["count"] == 5  # --lone-calls
        assert figures["committed"]["p50_ms"] >= figures["returned"]["p50_ms"] > 0
        assert figures["owner"]["writer"]["events"] >= 5  # the executions (and ticks)
    assert scenarios["cross-latency"]["under_load"]["owner"]["ticks_published"] > 0
    idle = scenarios["idle-cpu"]["processes"]
    assert set(idle) == {"chatgpt_bot", "desktop_agent", "api_server"}
    assert all(process["cpu_share"] >= 0 for process in idle.values())
    imported = scenarios["import-ticks"]  # every tick of the file stored, or it fails
    assert imported["ticks"] == 2000
    [import_round] = imported["rounds"]
    assert imported["ratio_to_in_process"] == import_round["ratio_to_in_process"] > 0
    assert imported["ratio_to_plain"] == import_round["ratio_to_plain"] > 0
    names = {line["scenario"] for line in results["table"]}
    assert names == set(bench.SCENARIOS)
    targets = {target["name"]: target for target in results["targets"]}
    assert len(targets) == 13
    assert all(target["measured"] != "not run" for target in targets.values())
    assert {target["passed"] for target in targets.values()} <= {True, False, None}
    # No work directory is left behind; the plot exists whenever matplotlib does.
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    if results["plot"] is not None:
        assert (tmp_path / results["plot"]).stat().st_size > 0
    assert "tradebus" in done.stdout
    assert "x ceiling" in done.stdout
    assert "PASS" in done.stdout or "MISS" in done.stdout


def test_a_subset_of_scenarios_runs_alone(tmp_path: Path) -> None:
    status = bench.main(
        ["--quick", "--ticks", "500", "--scenarios", "ceiling,naive", "--naive-ticks", "10",
         "--no-plot", "--out", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    [path] = tmp_path.glob("bench-*.json")
    results = json.loads(path.read_text())
    assert list(results["scenarios"]) == ["ceiling", "naive"]
    assert results["plot"] is None


def test_an_unknown_scenario_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        bench.main(["--scenarios", "ceiling,warp-speed"])
    assert exc_info.value.code == 2
    assert "warp-speed" in capsys.readouterr().err
