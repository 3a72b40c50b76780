"""The ``tradebus import ticks`` command: what it reports and its exit status by what
it found (bad rows, files already imported or missing), and no failure reported while
the bot runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio

from tradebus import open_node

from ._import_helpers import stored_ticks as _ticks


def test_the_import_command_reports_and_exits_by_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("ts,bid,ask\n1704189600,1.1,1.2\n1704189601,abc,1.2\n")
    data = tmp_path / "data"

    def run(*extra: str, files: tuple[Path, ...] = (path,)) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tradebus", "import", "ticks", *map(str, files), "--symbol",
             "EURUSD", "--data-dir", str(data), *extra],
            capture_output=True, text=True, timeout=120,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    stopped = run("--on-error", "stop")
    assert stopped.returncode == 3
    assert "line 3: bid 'abc': not a number" in stopped.stderr
    assert "nothing imported" in stopped.stderr
    done = run()
    assert done.returncode == 3
    assert "1 ticks of EURUSD imported" in done.stdout
    again = run()
    assert again.returncode == 0
    assert "already imported" in again.stdout
    # Several files, one after the other: the worst status wins, the others still go in.
    other, missing = tmp_path / "more.csv", tmp_path / "missing.csv"
    other.write_text("ts,bid,ask\n1704189700,1.1,1.2\n1704189701,1.1,1.2\n")
    several = run(files=(path, other, missing))
    assert several.returncode == 1
    assert "already imported" in several.stdout
    assert "2 ticks of EURUSD imported" in several.stdout
    assert "missing.csv: no such file" in several.stderr


async def test_an_import_while_the_bot_runs_reports_no_failure(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("".join(f"20240102 1700{i:02d}000,1.1,1.2,0\n" for i in range(30)))
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):  # holds the bot's lock
        done = await anyio.run_process(
            [sys.executable, "-m", "tradebus", "import", "ticks", str(path),
             "--symbol", "EURUSD", "--data-dir", str(data)],
            check=False,
        )  # fmt: skip
    said = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, said
    assert "already has a writer" not in said
    assert "failed" not in said
    assert "outbox" in said
    assert len(_ticks(data)) == 30
