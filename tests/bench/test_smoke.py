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
    scenarios = results["scenarios"]
    assert scenarios["ceiling"]["ticks"] == 2000
    assert scenarios["tradebus"]["ticks"] == 2000
    assert scenarios["naive"]["ticks"] == 30
    assert scenarios["three-files"]["lock_errors"] == 0
    assert set(scenarios["shared-file"]["processes"]) == {"ticks", "trades", "logs"}
    assert scenarios["read-under-write"]["reader"]["queries"] > 0
    assert set(scenarios["latency"]["rates"]) == {"2000", "50000"}
    assert len(scenarios["batch-sweep"]["settings"]) == 3
    assert scenarios["bus"]["bus_msgs_per_s"] > 0
    names = {line["scenario"] for line in results["table"]}
    assert names == set(bench.SCENARIOS)
    assert len(results["targets"]) == 7
    # No work directory is left behind; the plot exists whenever matplotlib does.
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []
    if results["plot"] is not None:
        assert (tmp_path / results["plot"]).stat().st_size > 0
    assert "tradebus" in done.stdout
    assert "x ceiling" in done.stdout


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
