"""SIGKILL a node mid-ingest, again and again: nothing acknowledged is ever lost."""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import anyio
import pytest

from tradebus import open_node

from ._helpers import DATABASE_FILES, assert_lock_free, integrity, read_only, script
from .crash_worker import TS0

_TABLE_FILES = {
    "trade_executions": "unified_tick_pipeline.db",
    "position_updates": "unified_tick_pipeline.db",
    "trade_recommendations": "analysis_data.db",
    "trade_analysis": "analysis_data.db",
    "trade_monitoring": "system_logs.db",
    "trade_alerts": "system_logs.db",
    "system_health": "system_logs.db",
}


class Acks(NamedTuple):
    """What the worker's log says was acknowledged."""

    started: set[int]
    #: symbol -> n: ticks 1..n of the symbol are committed.
    ticks: dict[str, int]
    #: (table, column) -> values committed.
    rows: dict[tuple[str, str], list[str]]


def read_acks(log: Path) -> Acks:
    acks = Acks(set(), {}, defaultdict(list))
    if not log.exists():
        return acks
    text = log.read_text()
    for line in text.split("\n")[:-1]:  # a line cut by the kill has no newline
        kind, *fields = line.split(" ")
        if kind == "S":
            acks.started.add(int(fields[0]))
        elif kind == "T":
            symbol, n = fields
            acks.ticks[symbol] = max(acks.ticks.get(symbol, 0), int(n))
        elif kind == "E":
            table, column, value = fields
            acks.rows[table, column].append(value)
        else:
            raise AssertionError(f"unexpected line in the ack log: {line!r}")
    return acks


def check_data_dir(data: Path, acks: Acks) -> None:
    """Every database is sound, unlocked, and holds every acknowledged event once."""
    for filename in DATABASE_FILES:
        path = data / filename
        assert integrity(path) == "ok", f"{filename} is corrupt"
        assert_lock_free(path)
        with read_only(path) as conn:
            (dead,) = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        assert dead == 0, f"{filename} has dead letters"
    with read_only(data / "unified_tick_pipeline.db") as conn:
        duplicates = conn.execute(
            "SELECT symbol, ts, count(*) FROM unified_ticks GROUP BY symbol, ts "
            "HAVING count(*) > 1 LIMIT 5"
        ).fetchall()
        assert duplicates == [], f"ticks stored twice: {duplicates}"
        for symbol, n in acks.ticks.items():
            (stored,) = conn.execute(
                "SELECT count(*) FROM unified_ticks WHERE symbol = ? AND ts BETWEEN ? AND ?",
                (symbol, TS0 + 1, TS0 + n),
            ).fetchone()
            assert stored == n, f"{symbol}: {n} ticks acknowledged, {stored} stored"
    for (table, column), values in acks.rows.items():
        with read_only(data / _TABLE_FILES[table]) as conn:
            stored = Counter(
                str(value) for (value,) in conn.execute(f"SELECT {column} FROM {table}")
            )
        missing = [v for v in values if stored[v] == 0]
        doubled = [v for v in values if stored[v] > 1]
        assert not missing, f"{table}: {len(missing)} acknowledged rows missing: {missing[:3]}"
        assert not doubled, f"{table}: rows stored more than once: {doubled[:3]}"


async def wait_for_ingest(log: Path, run: int, process: anyio.abc.Process) -> None:
    """Wait until run ``run`` has acknowledged ticks and lifecycle events."""
    with anyio.move_on_after(60):
        while True:
            acks = read_acks(log)
            lifecycle = sum(len(v) for v in acks.rows.values())
            if run in acks.started and f"R{run}" in acks.ticks and lifecycle > 0:
                return
            assert process.returncode is None, f"the worker exited ({process.returncode})"
            await anyio.sleep(0.02)
    # Its task and thread stacks land in its stderr file.
    process.send_signal(signal.SIGUSR2)
    await anyio.sleep(0.5)
    process.send_signal(signal.SIGUSR1)
    await anyio.sleep(0.5)
    raise AssertionError(f"run {run}: no ingest within 60 s")


async def crash_loop(tmp_path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    data = tmp_path / "data"
    log = tmp_path / "acks.log"
    lifecycle_before = 0
    for run in range(kills):
        stderr = tmp_path / f"worker-{run}.err"
        with stderr.open("wb") as err:
            process = await anyio.open_process(
                [*script("crash_worker.py"), str(data), str(log), str(run)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            if run % 4 == 3:
                # Sometimes kill early: while it opens, locks and migrates the files.
                await anyio.sleep(rng.uniform(0.0, 0.5))
            else:
                await wait_for_ingest(log, run, process)
                await anyio.sleep(rng.uniform(0.0, 0.6))
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
            await process.aclose()
        assert process.returncode == -signal.SIGKILL, stderr.read_text()[-3000:]
        acks = read_acks(log)
        check_data_dir(data, acks)
        lifecycle = sum(len(v) for v in acks.rows.values())
        if run % 4 != 3:
            assert lifecycle > lifecycle_before, f"run {run}: ingest did not resume"
        lifecycle_before = lifecycle
    # A writer in this process takes over the killed one's files and carries on.
    async with open_node(data) as node:
        await node.integration("api_server").log_system_health(component="after", status="ok")
    check_data_dir(data, read_acks(log))


async def test_sigkilled_node_loses_nothing_acknowledged(tmp_path: Path) -> None:
    await crash_loop(tmp_path, kills=5, seed=7)


@pytest.mark.soak
@pytest.mark.timeout(3600)
async def test_sigkilled_node_loses_nothing_acknowledged_soak(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    try:
        await crash_loop(tmp_path, kills=60, seed=seed)
    except AssertionError as exc:  # a random run must be repeatable
        raise AssertionError(f"crash loop with seed={seed}: {exc}") from exc
