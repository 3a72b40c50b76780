"""The owner's process SIGKILLed while its relay delivers a backlog of rows of several
ticks, and started again: every tick is stored once, in order."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.to_thread

from schemas import Tick
from tradebus import open_node

from ._helpers import count, integrity, read_only

MAIN, LOGS = "unified_tick_pipeline.db", "system_logs.db"
TICKS = 100_000
KILLS = 3


def _cursor(data: Path) -> int:
    """The position of the api_server's outbox the bot's database has committed."""
    if not (data / MAIN).exists():
        return 0
    try:
        with read_only(data / MAIN) as conn:
            row = conn.execute("SELECT max(cursor) FROM relay_cursors").fetchone()
    except sqlite3.Error:  # not made yet (the owner is starting)
        return 0
    return int(row[0] or 0)


def _owner(data: Path, run: int) -> subprocess.Popen[bytes]:
    with open(data / f"owner-{run}.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tradebus", "run", "--data-dir", str(data),
             "--role", "chatgpt_bot", "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip


async def test_an_owner_killed_while_relaying_rows_of_ticks_stores_each_once(
    tmp_path: Path,
) -> None:
    ticks = [
        Tick(symbol=f"S{i % 7}", bid=100.0 + i % 50, ask=101.0 + i % 50, ts=1_000_000 + i)
        for i in range(TICKS)
    ]
    async with open_node(tmp_path, roles=["api_server"]) as api:  # the owner is down
        for n, tick in enumerate(ticks):
            if n % 500:
                api.bus.publish_nowait(tick)
            else:
                await api.bus.publish(tick)
        await api.bus.flush()
    with read_only(tmp_path / LOGS) as conn:
        [(rows, last)] = conn.execute("SELECT count(*), max(seq) FROM outbox").fetchall()
    assert rows < TICKS // 100  # rows of many ticks each

    killed_at = []
    for run in range(KILLS):
        owner = _owner(tmp_path, run)
        before = _cursor(tmp_path)
        try:
            with anyio.fail_after(120):
                while _cursor(tmp_path) == before:  # another process's commit
                    assert owner.poll() is None, (tmp_path / f"owner-{run}.err").read_text()
                    await anyio.sleep(0.005)
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait()
        killed_at.append(_cursor(tmp_path))
    # Killed while it had rows left to deliver (its first commits of each run).
    assert 0 < killed_at[0] < last, killed_at
    print("KILLED", killed_at, last)

    owner = _owner(tmp_path, KILLS)
    try:
        with anyio.fail_after(120):
            while _cursor(tmp_path) < last:  # another process's commit
                assert owner.poll() is None, (tmp_path / f"owner-{KILLS}.err").read_text()
                await anyio.sleep(0.05)
    finally:
        owner.send_signal(signal.SIGTERM)
        status = await anyio.to_thread.run_sync(owner.wait)
    assert status == 0, (tmp_path / f"owner-{KILLS}.err").read_text()[-3000:]

    with read_only(tmp_path / MAIN) as conn:
        stored = conn.execute("SELECT symbol, ts FROM unified_ticks ORDER BY seq").fetchall()
        [(events,)] = conn.execute("SELECT events FROM relay_cursors").fetchall()
    assert stored == [(t.symbol, t.ts) for t in ticks]  # each once, in order
    assert events == TICKS
    assert count(tmp_path / MAIN, "dead_letters") == 0
    assert integrity(tmp_path / MAIN) == "ok"
