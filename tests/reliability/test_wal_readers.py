"""The WAL under readers that follow one another (a dashboard polling): it stays
bounded, since the writer waits briefly for them to leave it now and then."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from schemas import Tick
from tradebus import open_node
from writers import _sqlite_wal

from ._helpers import count, read_only

_MAIN = "unified_tick_pipeline.db"
_MB = 1_000_000


def _ticks(first: int, n: int) -> list[Tick]:
    return [
        Tick(symbol="BTCUSDT", bid=1.0 + i % 100, ask=2.0 + i % 100, ts=1_700_000_000_000 + i)
        for i in range(first, first + n)
    ]


async def test_readers_that_follow_one_another_leave_the_wal_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reset after 2,000 frames (8 MB) rather than 8,000: the same, in a short test.
    monkeypatch.setattr(_sqlite_wal, "_RESTART_FRAMES", 2_000, raising=False)
    path, wal = tmp_path / _MAIN, tmp_path / f"{_MAIN}-wal"
    stop = threading.Event()
    reads = [0, 0]

    def poll(reader: int) -> None:
        """Short reads back to back; two such readers overlap all the time."""
        with read_only(path) as conn:
            while not stop.is_set():
                conn.execute("SELECT count(*), max(ts) FROM unified_ticks").fetchone()
                reads[reader] += 1

    published, sizes = 0, []
    async with open_node(tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None) as node:
        bus = node.bus
        await bus.publish_many(_ticks(0, 1_000), wait=True)
        published = 1_000
        async with anyio.create_task_group() as tg:
            for reader in (0, 1):
                tg.start_soon(anyio.to_thread.run_sync, poll, reader)
            try:
                until = anyio.current_time() + 10
                while anyio.current_time() < until:
                    batch, done = _ticks(published, 5_000), 0
                    while done < len(batch):  # as fast as the writer takes them
                        done += bus.publish_each_nowait(batch[done:])
                        if done < len(batch):
                            await bus.publish(batch[done])
                            done += 1
                    published += len(batch)
                    sizes.append(wal.stat().st_size)
                await bus.flush()
            finally:
                stop.set()
    assert min(reads) > 20  # both polled throughout
    assert count(path, "unified_ticks") == published
    # Without the writer's waits the WAL grows as long as ingest goes on (over 50 MB
    # here); with them it is reset from its start each time it passes 8 MB.
    assert max(sizes) < 32 * _MB, [round(size / _MB, 1) for size in sizes]
