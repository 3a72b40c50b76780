"""The CLI as a new user meets it: real ``tradebus`` processes on real directories."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tradebus import Topology

_WRITER = Path(__file__).parents[1] / "writers" / "writer_process.py"
_LOCKER = Path(__file__).parents[1] / "reliability" / "foreign_locker.py"
_SUMMARY = re.compile(
    r"This run committed (?P<ticks>[\d,]+) ticks.*?, (?P<recommendations>\d+) recommendations, "
    r"(?P<executions>\d+) executions; (?P<closed>\d+) of (?P<opened>\d+) positions closed "
    r"\((?P<wins>\d+) won, (?P<losses>\d+) lost\), realized P&L (?P<pnl>[-+][\d.]+)"
)


def _env(columns: int = 200, **extra: str) -> dict[str, str]:
    return {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", **extra}


def _run(*args: str, columns: int = 200, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(columns, **extra),
    )


def _count(path: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(path) as conn:
        value: int = conn.execute(sql, params).fetchone()[0]
    return value


def _summary(stdout: str) -> dict[str, str]:
    match = _SUMMARY.search(" ".join(stdout.split()))
    assert match is not None, stdout
    return match.groupdict()


def _committed(data: Path, first_ticket: int = 0) -> dict[str, str]:
    """What the databases hold, in the summary's terms (positions from ``first_ticket``)."""
    main, analysis = data / "unified_tick_pipeline.db", data / "analysis_data.db"
    with sqlite3.connect(main) as conn:
        opened, closed, wins, losses, pnl = conn.execute(
            "SELECT count(*), coalesce(sum(status = 'closed'), 0), "
            "coalesce(sum(status = 'closed' AND realized_pnl > 0), 0), "
            "coalesce(sum(status = 'closed' AND realized_pnl < 0), 0), "
            "total(CASE WHEN status = 'closed' THEN realized_pnl END) "
            "FROM trade_positions WHERE ticket >= ?",
            (first_ticket,),
        ).fetchone()
    return {
        "ticks": f"{_count(main, 'SELECT count(*) FROM unified_ticks'):,}",
        "recommendations": str(_count(analysis, "SELECT count(*) FROM trade_recommendations")),
        "executions": str(_count(main, "SELECT count(*) FROM trade_executions")),
        "closed": str(closed),
        "opened": str(opened),
        "wins": str(wins),
        "losses": str(losses),
        "pnl": f"{pnl:+.4f}",
    }


def test_the_demo_summary_is_what_its_databases_hold(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = _run("demo", "--data-dir", str(data), "--seconds", "4", "--rate", "500", "--seed", "3")
    assert demo.returncode == 0, demo.stderr
    assert _summary(demo.stdout) == _committed(data)


def test_a_second_demo_reports_only_what_it_added(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = _run("demo", "--data-dir", str(data), "--seconds", "2", "--rate", "500", "--seed", "1")
    assert first.returncode == 0, first.stderr
    before = _committed(data)
    first_ticket = _count(
        data / "unified_tick_pipeline.db", "SELECT max(ticket) + 1 FROM trade_positions"
    )
    second = _run("demo", "--data-dir", str(data), "--seconds", "2", "--rate", "500", "--seed", "2")
    assert second.returncode == 0, second.stderr
    after = _committed(data, first_ticket)
    reported = _summary(second.stdout)
    for field in ("ticks", "recommendations", "executions"):
        added = int(after[field].replace(",", "")) - int(before[field].replace(",", ""))
        assert int(reported[field].replace(",", "")) == added, field
    for field in ("closed", "opened", "wins", "losses", "pnl"):
        assert reported[field] == after[field], field


def _wait_for_ticks(database: Path, demo: subprocess.Popen[str]) -> None:
    """Return once the demo has committed ticks (it is running, not starting)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert demo.poll() is None, "the demo ended before it was interrupted"
        if database.exists():
            try:
                if _count(database, "SELECT count(*) FROM unified_ticks") > 0:
                    return
            except sqlite3.OperationalError:
                pass  # the tables are not created yet
        time.sleep(0.05)
    raise AssertionError("the demo committed no tick within 60 s")


def _start_demo(data: Path, *, rate: int) -> subprocess.Popen[str]:
    """A demo of two minutes at ``rate`` ticks/s writing to ``data``, its output piped."""
    args = ["demo", "--data-dir", str(data), "--seconds", "120", "--rate", str(rate)]
    return subprocess.Popen(
        [sys.executable, "-m", "tradebus", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _interrupt_twice(tmp_path: Path, second: bool) -> tuple[subprocess.Popen[str], str, str]:
    data = tmp_path / "demo"
    demo = _start_demo(data, rate=20_000)
    try:
        assert demo.stdout is not None
        demo.stdout.readline()  # the banner: signals are caught from here on
        _wait_for_ticks(data / "unified_tick_pipeline.db", demo)
        demo.send_signal(signal.SIGINT)
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if "SIGINT: stopping" in line:
                break
        if second:
            demo.send_signal(signal.SIGINT)  # while it commits, or reports
        out, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    return demo, "".join(seen) + out, err


def test_ctrl_c_reports_what_was_committed_and_exits_130(tmp_path: Path) -> None:
    demo, out, err = _interrupt_twice(tmp_path, second=False)
    assert demo.returncode == 130, err
    assert "Stopped by SIGINT (exit status 130)" in out
    assert _summary(out) == _committed(tmp_path / "demo")
    assert "Traceback" not in err


def test_a_double_ctrl_c_still_reports_what_was_committed(tmp_path: Path) -> None:
    demo, out, err = _interrupt_twice(tmp_path, second=True)
    assert demo.returncode == 130, err
    assert _summary(out) == _committed(tmp_path / "demo")
    assert "Traceback" not in err
    assert "failed" not in err


@contextmanager
def _held_writer(database: Path) -> Iterator[int]:
    """A writer of ``database`` in another process, holding its lock."""
    holder = subprocess.Popen(
        [sys.executable, str(_WRITER), "hold", str(database), "chatgpt_bot"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


@pytest.mark.parametrize("command", ["demo", "init"])
def test_a_database_held_by_another_writer_is_one_error_a_cli_user_can_act_on(
    tmp_path: Path, command: str
) -> None:
    data = tmp_path / "data"
    assert _run("init", "--data-dir", str(data)).returncode == 0
    database = data / "unified_tick_pipeline.db"
    with _held_writer(database) as pid:
        result = _run(command, "--data-dir", str(data), *(["--seconds", "1"] * (command == "demo")))
    assert result.returncode == 1
    assert result.stderr.count("already has a writer") == 1, result.stderr
    assert result.stderr.startswith("tradebus: error:")
    assert f"pid {pid}" in result.stderr
    assert f"'tradebus stats --data-dir {data}'" in result.stderr
    assert "open_reader" not in result.stderr
    assert "Traceback" not in result.stderr


def test_stats_at_80_columns_shows_every_table_whole_and_times_in_utc(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = _run("demo", "--data-dir", str(data), "--seconds", "2", "--rate", "300", "--seed", "4")
    assert demo.returncode == 0, demo.stderr
    stats = _run("stats", "--data-dir", str(data), columns=80)
    assert stats.returncode == 0, stats.stderr
    lines = stats.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, stats.stdout
    words = set(stats.stdout.split())
    for spec in Topology.default().databases:
        for table in spec.tables:
            assert table in words, table
    assert "first (UTC)" in stats.stdout
    assert "last (UTC)" in stats.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stats.stdout)


@pytest.mark.parametrize("command", ["init", "demo", "stats"])
def test_a_file_given_as_data_dir_is_not_a_directory_for_every_command(
    tmp_path: Path, command: str
) -> None:
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0::/root:/bin/sh\n")
    result = _run(command, "--data-dir", str(target))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"tradebus: error: --data-dir {target} is not a directory: give the directory that "
        "holds (or is to hold) the databases"
    )
    assert target.read_text() == "root:x:0:0::/root:/bin/sh\n"


def test_stats_of_a_directory_without_databases_says_how_to_create_them(tmp_path: Path) -> None:
    result = _run("stats", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no tradebus database" in result.stderr
    assert f"'tradebus init --data-dir {tmp_path}'" in result.stderr
    assert list(tmp_path.iterdir()) == []  # stats created nothing


def test_a_bad_argument_of_a_command_points_to_that_command_s_help(tmp_path: Path) -> None:
    result = _run("demo", "--rate", "-5")
    assert result.returncode == 2
    assert result.stderr.startswith("tradebus: error: argument --rate")
    assert "(see 'tradebus demo --help')" in result.stderr


def test_the_live_view_names_what_it_counts_writes(tmp_path: Path) -> None:
    # These make rich draw the live view into the pipe as on a terminal.
    demo = _run(
        "demo", "--data-dir", str(tmp_path / "d"), "--seconds", "2", "--rate", "300",
        TTY_COMPATIBLE="1", TTY_INTERACTIVE="1",
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "writes: rows inserted or updated (a replay that changed nothing too)" in demo.stdout


def test_stats_of_a_database_another_program_locks_says_it_cannot_read_it(
    tmp_path: Path,
) -> None:
    assert _run("init", "--data-dir", str(tmp_path)).returncode == 0
    database = tmp_path / "system_logs.db"
    locker = subprocess.Popen(
        [sys.executable, str(_LOCKER), str(database), "exclusive-mode", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        result = _run("stats", "--data-dir", str(tmp_path))
    finally:
        locker.kill()
        locker.wait()
        assert locker.stdout is not None
        locker.stdout.close()
    assert result.returncode == 1
    assert result.stderr.startswith(f"tradebus: error: cannot read {database}: database is locked")
    assert "not a SQLite database" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_data_directory_deleted_under_the_demo_is_one_error(tmp_path: Path) -> None:
    # Every writer finds its file gone; each one's error is said once (not also as the
    # log lines of the writer and its node that announced it), the one that ended the
    # command last.
    data = tmp_path / "demo"
    demo = _start_demo(data, rate=5_000)
    try:
        _wait_for_ticks(data / "unified_tick_pipeline.db", demo)
        shutil.rmtree(data)
        _out, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 1, err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("tradebus: error: "), err  # what ended it, last
    vanished = re.findall(r"/(\w+\.db) vanished while its writer ran", err)
    assert vanished, err
    assert len(vanished) == len(set(vanished)), err  # each writer's error said once
