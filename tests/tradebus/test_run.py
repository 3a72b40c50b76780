"""``tradebus run``: a role process, run as a real subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from schemas import Tick
from tradebus import open_node

# An app that publishes ticks until it is cancelled, then says how many the bus took.
_FEED_APP = """
import pathlib
import sys

import anyio

from eventbus import BusFull
from schemas import Tick


async def feed(node):
    published = 0
    try:
        while True:
            for _ in range(20):
                tick = Tick(symbol="EURUSD", bid=1.08, ask=1.0801, volume=float(published))
                try:
                    node.bus.publish_nowait(tick)
                except BusFull:
                    break
                published += 1
            await anyio.sleep(0.005)
    finally:
        pathlib.Path("published.txt").write_text(str(published))


async def fail(node):
    await node.bus.publish(Tick(symbol="EURUSD", bid=1.0, ask=1.1), wait=True)
    raise ValueError("the app broke on purpose")


async def in_a_group(node):
    async with anyio.create_task_group() as tg:
        tg.start_soon(fail, node)
        await anyio.sleep_forever()


async def exits(node):
    await node.bus.publish(Tick(symbol="EURUSD", bid=1.0, ask=1.1), wait=True)
    sys.exit(5)


async def done(node):
    await node.bus.publish(Tick(symbol="EURUSD", bid=1.0, ask=1.1), wait=True)
    pathlib.Path("returned.txt").write_text("yes")


def not_async(node):
    return None
"""

_DEADLINE = 60.0


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradebus", "run", "--data-dir", "data", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", "run", "--data-dir", "data", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_DEADLINE,
        env=_env(),
    )


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _DEADLINE
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the process exited ({process.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ticks(data: Path) -> int:
    path = data / "unified_tick_pipeline.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM unified_ticks").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "feedapp.py").write_text(_FEED_APP)
    return tmp_path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stores_what_its_app_publishes_and_drains_on_a_signal(
    app_dir: Path, signum: signal.Signals
) -> None:
    process = _start(app_dir, "--role", "chatgpt_bot", "--app", "feedapp:feed")
    try:
        _wait_for(lambda: _ticks(app_dir / "data") >= 200, "ticks are committed", process)
        process.send_signal(signum)
        out, err = process.communicate(timeout=_DEADLINE)
    finally:
        process.kill()
    assert process.returncode == 0, err
    published = int((app_dir / "published.txt").read_text())
    # Everything the bus took before the signal is committed: none lost, none twice.
    assert _ticks(app_dir / "data") == published
    assert (
        f"serving chatgpt_bot (unified_tick_pipeline.db), app feedapp:feed; pid {process.pid}"
        in out
    )
    assert f"stopped ({signum.name})" in out
    assert f"{published:,} events written" in out


def test_an_app_that_returns_leaves_the_process_serving(app_dir: Path) -> None:
    process = _start(app_dir, "--role", "chatgpt_bot", "--app", "feedapp:done")
    try:
        _wait_for((app_dir / "returned.txt").exists, "the app returns", process)
        assert process.poll() is None  # still serving once the app returned
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=_DEADLINE)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert _ticks(app_dir / "data") == 1


@pytest.mark.parametrize(
    ("app", "error"),
    [
        ("fail", "ValueError: the app broke on purpose;"),
        ("in_a_group", "ValueError: the app broke on purpose;"),
        ("exits", "SystemExit: 5"),
    ],
)
def test_an_app_that_raises_ends_the_process_with_status_1(
    app_dir: Path, app: str, error: str
) -> None:
    result = _run(app_dir, "--role", "chatgpt_bot", "--app", f"feedapp:{app}")
    assert result.returncode == 1
    # Named by the error itself, also when one of the app's tasks raised it.
    assert f"app feedapp:{app} failed: {error}" in result.stderr
    assert "Traceback" in result.stderr  # the app's error is logged whole
    assert _ticks(app_dir / "data") == 1  # what it logged before is kept


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("nosuchmodule:main", "no module named 'nosuchmodule'"),
        ("feedapp:missing", "module 'feedapp' has no attribute 'missing'; its async functions: "),
        ("feedapp:not_async", "'not_async' is a function, not an async function"),
        ("feedapp", "is not of the form MODULE:FUNCTION"),
    ],
)
def test_an_app_that_cannot_run_is_refused_with_status_2(
    app_dir: Path, app: str, message: str
) -> None:
    result = _run(app_dir, "--role", "chatgpt_bot", "--app", app)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (app_dir / "data" / "unified_tick_pipeline.db").exists()  # nothing opened


def test_an_app_module_failing_on_import_is_refused_with_status_2(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('cannot start')\n")
    result = _run(tmp_path, "--role", "api_server", "--app", "broken:main")
    assert result.returncode == 2
    assert "importing module 'broken' failed: RuntimeError: cannot start" in result.stderr


def test_an_unknown_role_is_refused_naming_the_roles(tmp_path: Path) -> None:
    result = _run(tmp_path, "--role", "chatgpt_bot", "--role", "trader")
    assert result.returncode == 2
    assert "unknown role 'trader': the roles are chatgpt_bot, desktop_agent, api_server" in (
        result.stderr
    )


def test_a_second_process_of_a_role_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = _start(tmp_path, "--role", "desktop_agent")
    try:
        assert first.stdout is not None
        line = first.stdout.readline()  # printed once the role's lock is held
        assert f"serving desktop_agent (analysis_data.db); pid {first.pid}" in line
        second = _run(tmp_path, "--role", "api_server", "--role", "desktop_agent")
        assert second.returncode == 3
        assert (
            f"cannot host role 'desktop_agent': data/analysis_data.db already has a writer: "
            f"pid {first.pid} (role 'desktop_agent') holds its lock"
        ) in second.stderr
        assert second.stderr.count("already has a writer") == 1
        assert first.poll() is None  # the holder serves on
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=_DEADLINE)
        first.kill()
    assert first.returncode == 0


def test_run_prunes_by_the_policy_it_is_given(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = time.time_ns() - 100 * 86_400 * 1_000_000_000

    async def fill() -> None:
        async with open_node(data, roles=["chatgpt_bot"], status_file=False) as node:
            for i in range(30):
                node.bus.publish_nowait(Tick(symbol="EURUSD", bid=1.1, ask=1.2, ts=old + i))
            node.bus.publish_nowait(Tick(symbol="EURUSD", bid=1.1, ask=1.2))

    anyio.run(fill)
    assert _ticks(data) == 31
    process = _start(tmp_path, "--role", "chatgpt_bot", "--retain", "ticks=30d")
    try:
        _wait_for(lambda: _ticks(data) == 1, "the old ticks to be pruned", process)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=_DEADLINE)
    assert process.returncode == 0, err
    assert _ticks(data) == 1  # the recent one stays


def test_run_refuses_a_bad_retention_naming_it(tmp_path: Path) -> None:
    result = _run(tmp_path, "--role", "chatgpt_bot", "--retain", "ticks=soon")
    assert result.returncode == 2
    assert "soon" in result.stderr
    assert not (tmp_path / "data" / "unified_tick_pipeline.db").exists()
