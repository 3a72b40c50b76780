"""A prune killed midway (SIGKILL) leaves a consistent database; the next pass
deletes what is left."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from schemas import Candle, Tick
from writers import MAIN, Pruner, Retention

from ._helpers import count, query, running_writer, wait_until

WORKER = Path(__file__).with_name("prune_worker.py")
DAY = 86_400 * 1_000_000_000
OLD_TICKS = 8_000


async def test_a_prune_killed_midway_leaves_the_database_consistent_and_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    now = time.time_ns()
    async with running_writer(path, MAIN) as (bus, _writer):
        for i in range(OLD_TICKS):
            symbol = ("BTCUSDT", "ETHUSDT", "EURUSD", "XAUUSD")[i % 4]
            await bus.publish(Tick(symbol=symbol, bid=1.0, ask=1.5, ts=now - 60 * DAY + i))
        for i in range(100):
            await bus.publish(Tick(symbol="BTCUSDT", bid=2.0, ask=2.5, ts=now - DAY + i))
        await bus.publish(
            Candle(symbol="BTCUSDT", timeframe="H1", ts_open=now - 60 * DAY, open=1, high=1,
                   low=1, close=1)
        )  # fmt: skip
        await bus.flush()
    total = OLD_TICKS + 100

    async with await anyio.open_process(
        [sys.executable, str(WORKER), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as worker:
        try:
            assert worker.stdout is not None
            with anyio.fail_after(30):
                ready = await BufferedByteReceiveStream(worker.stdout).receive_until(b"\n", 64)
            assert ready == b"ready"
            with anyio.fail_after(60):
                await wait_until(lambda: count(path, "unified_ticks") < total)
        finally:
            worker.kill()  # SIGKILL: whatever step it is in
            await worker.wait()

    left = count(path, "unified_ticks")
    assert 100 < left < total  # killed midway: some old ticks went, some are left
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    assert query(path, "SELECT count(*) FROM unified_ticks WHERE ts >= ?", (now - 2 * DAY,)) == [
        (100,)
    ]

    async with running_writer(path, MAIN) as (_bus, writer):
        report = await Pruner(writer, Retention(ticks=30)).prune()
    assert report.deleted == {"unified_ticks": left - 100}
    assert count(path, "unified_ticks") == 100
    assert count(path, "candles") == 1
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
