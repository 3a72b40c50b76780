"""The api-load scenario runs against a real server: both endpoints answer, every
answer is a success, ingest stores every tick (or the scenario fails)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_api_load_measures_both_endpoints_beside_ingest(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "--quick", "--ticks", "3000"]
    command += ["--scenarios", "api-load", "--no-plot", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    [path] = tmp_path.glob("bench-*.json")
    figures = json.loads(path.read_text())["scenarios"]["api-load"]
    assert figures["ticks"] == 3000
    assert (figures["read_connections"], figures["intake_connections"]) == (4, 2)
    [pair] = figures["pairs"]  # --quick: one pair
    assert pair["first"] == "alone"
    assert figures["ratio_to_alone"] == pair["ratio"] > 0
    for run in ("alone", "loaded"):
        assert pair[run]["ticks_per_s"] > 0
        assert isinstance(pair[run]["disturbance"]["disturbed"], bool)
    for window in ("load", "api_alone"):
        assert set(pair[window]["reads"]["statuses"]) <= {"200"}
        assert set(pair[window]["intake"]["statuses"]) <= {"201"}
        assert not pair[window]["stopped_by_bound"]
    assert set(figures["api"]) == {"reads", "intake", "reads alone", "intake alone"}
    assert "api-load" in done.stdout
