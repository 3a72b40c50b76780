"""``tradebus prune``, run as a subprocess, and the ``--retain`` option it shares."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from schemas import ApiLog, Candle, Event, Tick
from tradebus._retention_args import parse_retention, retain_argument, retention_of
from writers import LOGS, MAIN, InvalidOption, Retention

from ..writers._helpers import count, query, running_writer, wait_until, writer_process

DAY = 86_400 * 1_000_000_000
NOW = time.time_ns()
OLD = NOW - 40 * DAY
RECENT = NOW - DAY


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", "prune", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


async def _fill(data: Path) -> None:
    """Old and recent ticks, an old candle (main); old and recent API logs (logs)."""
    main: list[Event] = [Tick(symbol="BTCUSDT", bid=1.0, ask=1.5, ts=OLD + i) for i in range(40)]
    main += [Tick(symbol="ETHUSDT", bid=1.0, ask=1.5, ts=RECENT + i) for i in range(10)]
    main.append(
        Candle(symbol="BTCUSDT", timeframe="M1", ts_open=OLD, open=1, high=1, low=1, close=1)
    )
    logs = [
        ApiLog(method="GET", path="/", status_code=200, duration_ms=1.0, ts=ts)
        for ts in (NOW - 100 * DAY, NOW - 95 * DAY, RECENT)
    ]
    for spec, events in ((MAIN, main), (LOGS, logs)):
        async with running_writer(data / spec.filename, spec) as (bus, _writer):
            for event in events:
                await bus.publish(event)
            await bus.flush()


@pytest.fixture
async def data(tmp_path: Path) -> Path:
    await _fill(tmp_path)
    return tmp_path


async def test_a_dry_run_counts_per_table_and_changes_nothing(data: Path) -> None:
    before = (data / MAIN.filename).read_bytes()
    result = _run("--data-dir", data, "--dry-run", "--retain", "ticks=30d,logs=90d")
    assert result.returncode == 0, result.stderr
    assert "counting, changing nothing" in result.stdout
    assert "unified_tick_pipeline.db: 40 rows would be deleted" in result.stdout
    assert "system_logs.db: 2 rows would be deleted" in result.stdout
    assert "analysis: nothing in it is pruned by this policy" in result.stdout
    # The bound's day: the command's clock may have passed midnight since NOW was read.
    days = {
        time.strftime("%Y-%m-%d", time.gmtime((t - 30 * DAY) / 1e9)) for t in (NOW, time.time_ns())
    }
    assert any(day in result.stdout for day in days), result.stdout
    assert (data / MAIN.filename).read_bytes() == before
    assert count(data / MAIN.filename, "unified_ticks") == 50
    assert count(data / LOGS.filename, "api_logs") == 3


async def test_a_prune_deletes_what_the_policy_no_longer_keeps(data: Path) -> None:
    result = _run("--data-dir", data, "--retain", "ticks=30d", "--retain", "logs=90d,chunk=7")
    assert result.returncode == 0, result.stderr
    assert "unified_tick_pipeline.db: 40 rows deleted" in result.stdout
    assert "system_logs.db: 2 rows deleted" in result.stdout
    assert query(data / MAIN.filename, "SELECT DISTINCT symbol FROM unified_ticks") == [
        ("ETHUSDT",)
    ]
    assert count(data / MAIN.filename, "candles") == 1  # the candles of pruned ticks stay
    assert count(data / LOGS.filename, "api_logs") == 1
    again = _run("--data-dir", data, "--dry-run", "--retain", "ticks=30d,logs=90d")
    assert "0 rows would be deleted" in again.stdout
    assert "40 rows" not in again.stdout


async def test_a_database_with_a_running_writer_is_left_to_it(data: Path) -> None:
    main = data / MAIN.filename
    async with writer_process("hold", main, "chatgpt_bot") as holder:
        result = await anyio.to_thread.run_sync(
            lambda: _run("--data-dir", data, "--retain", "ticks=30d,logs=90d")
        )
        assert result.returncode == 3, result.stderr
        assert f"pid {holder.pid}" in result.stderr
        assert "prunes it by its own retention policy" in result.stderr
        assert "tradebus run --retain" in result.stderr
        assert "Traceback" not in result.stderr
    assert count(main, "unified_ticks") == 50  # untouched
    assert count(data / LOGS.filename, "api_logs") == 1  # its writer was free: pruned


async def test_a_prune_without_a_policy_or_with_a_bad_one_is_refused(data: Path) -> None:
    bare = _run("--data-dir", data)
    assert bare.returncode == 2
    assert "name what to prune" in bare.stderr
    for bad, says in (
        ("ticks=0", "ticks must be more than zero"),
        ("ticks", "expected GROUP=AGE"),
        ("positions=30", "unknown retention item 'positions'"),
        ("chunk=0", "chunk must be an int from 1 to 100000, got 0"),
        ("ticks=soon", "ticks must be a number, got 'soon'"),
    ):
        result = _run("--data-dir", data, "--retain", bad)
        assert result.returncode == 2, bad
        assert says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert count(data / MAIN.filename, "unified_ticks") == 50


async def test_a_prune_of_a_missing_data_directory_is_refused(tmp_path: Path) -> None:
    result = _run("--data-dir", tmp_path / "nope", "--retain", "ticks=30")
    assert result.returncode == 2
    assert "nope" in result.stderr


async def test_the_retain_option_reads_ages_settings_and_forever() -> None:
    assert parse_retention("ticks=30d,logs=12h,every=30m,chunk=100") == Retention(
        ticks=30.0, logs=0.5, every=1_800.0, chunk=100
    )
    assert parse_retention("ticks=7, candles=forever") == Retention(ticks=7.0)
    with pytest.raises(InvalidOption, match="unknown retention item 'tick'"):
        parse_retention("tick=30")
    parser = argparse.ArgumentParser()
    retain_argument(parser)
    assert retention_of(parser.parse_args([])) is None
    args = parser.parse_args(["--retain", "ticks=30", "--retain", "ticks=10,logs=90"])
    assert retention_of(args) == Retention(ticks=10.0, logs=90.0)


async def test_a_prune_stopped_by_sigint_keeps_what_it_deleted(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _writer):
        for i in range(3_000):
            await bus.publish(Tick(symbol="BTCUSDT", bid=1.0, ask=1.5, ts=OLD + i))
        await bus.flush()
    command = [sys.executable, "-m", "tradebus", "prune", "--data-dir", str(tmp_path)]
    async with await anyio.open_process(
        [*command, "--retain", "ticks=30,chunk=10,share=0.01"],  # slow: 300 steps, long rests
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ) as process:
        with anyio.fail_after(60):
            await wait_until(lambda: count(path, "unified_ticks") < 3_000)
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(60):
            status = await process.wait()
        assert process.stderr is not None
        stderr = b"".join([chunk async for chunk in process.stderr]).decode()
    assert status == 128 + signal.SIGINT
    assert "interrupted by SIGINT: what was deleted is committed" in stderr
    left = count(path, "unified_ticks")
    assert 0 < left < 3_000
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
