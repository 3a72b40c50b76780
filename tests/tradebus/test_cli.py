"""The CLI, run as a subprocess against temporary directories."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_init_creates_and_then_reports_up_to_date(tmp_path: Path) -> None:
    data = tmp_path / "new"
    first = _run("init", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 3
    with sqlite3.connect(data / "analysis_data.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    again = _run("init", "--data-dir", str(data))
    assert again.returncode == 0
    assert again.stdout.count("up to date") == 3


def test_demo_runs_the_whole_system_and_stats_reads_it(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = _run("demo", "--data-dir", str(data), "--seconds", "3", "--rate", "1000", "--seed", "7")
    assert demo.returncode == 0, demo.stderr
    assert "unified_ticks" in demo.stdout
    with sqlite3.connect(data / "unified_tick_pipeline.db") as conn:
        ticks = conn.execute("SELECT count(*) FROM unified_ticks").fetchone()[0]
        executions = conn.execute("SELECT count(*) FROM trade_executions").fetchone()[0]
    assert ticks > 1000
    assert executions >= 1
    with sqlite3.connect(data / "analysis_data.db") as conn:
        assert conn.execute("SELECT count(*) FROM trade_recommendations").fetchone()[0] >= 1
    stats = _run("stats", "--data-dir", str(data))
    assert stats.returncode == 0, stats.stderr
    assert f"{ticks:,}" in stats.stdout


def test_stats_of_a_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run("stats", "--data-dir", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "no data directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stats_of_a_foreign_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "unified_tick_pipeline.db").write_bytes(b"not a database at all" * 100)
    result = _run("stats", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "not a SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    for args in (
        ("demo", "--rate", "-5"),
        ("demo", "--seconds", "abc"),
        ("demo", "--symbols", "BAD SYMBOL"),
        ("frobnicate",),
    ):
        result = _run(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("tradebus: error:"), result.stderr


def test_a_file_where_the_data_directory_should_be_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = _run("init", "--data-dir", str(target))
    assert result.returncode == 1
    assert "not a directory" in result.stderr


def test_version_and_help(tmp_path: Path) -> None:
    assert _run("--version").stdout.startswith("tradebus ")
    assert "demo" in _run("--help").stdout


def test_a_second_demo_in_the_same_directory_opens_new_tickets(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    for seed in ("1", "2"):
        run = _run(
            "demo", "--data-dir", str(data), "--seconds", "3", "--rate", "500", "--seed", seed
        )
        assert run.returncode == 0, run.stderr
    with sqlite3.connect(data / "unified_tick_pipeline.db") as conn:
        executions, tickets = conn.execute(
            "SELECT count(*), count(DISTINCT ticket) FROM trade_executions"
        ).fetchone()
    assert executions >= 2
    assert tickets == executions


def test_check_of_a_sound_data_directory_says_ok_and_exits_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _run("init", "--data-dir", str(data)).returncode == 0
    check = _run("check", "--data-dir", str(data))
    assert check.returncode == 0, check.stderr
    assert check.stdout.count(" ok ") == 3
    assert check.stderr == ""


def test_check_reports_a_missing_database_and_a_missing_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _run("init", "--data-dir", str(data)).returncode == 0
    (data / "system_logs.db").unlink()
    check = _run("check", "--data-dir", str(data))
    assert check.returncode == 1
    assert f"system_logs.db does not exist in {data}: 'tradebus init --data-dir" in check.stderr
    assert "failed the check" not in check.stderr  # missing is not damaged: no restore advice
    assert "missing" in check.stdout
    missing = _run("check", "--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "no data directory at" in missing.stderr


def test_an_empty_or_dangling_data_dir_is_refused_clearly(tmp_path: Path) -> None:
    empty = _run("stats", "--data-dir", "")
    assert empty.returncode == 2
    assert "--data-dir must not be empty" in empty.stderr
    link = tmp_path / "data"
    link.symlink_to(tmp_path / "gone")
    for command in ("init", "stats", "check"):
        dangling = _run(command, "--data-dir", str(link))
        assert dangling.returncode == 1, command
        assert (
            f"--data-dir {link} is a symbolic link to {tmp_path / 'gone'}, which does not exist"
            in (dangling.stderr.replace("\n", ""))
        ), command
