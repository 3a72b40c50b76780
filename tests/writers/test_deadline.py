"""``max_delay`` bounds publish-to-commit: the batch cut allows for what a batch takes
after it, and no commit waits for a WAL checkpoint (the writer's SQLite thread
checkpoints after the outcome is out)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from eventbus import EventBus, Message
from writers import MAIN
from writers import _sqlite_wal as sqlite_wal
from writers._sqlite import AUTOCHECKPOINT
from writers._sqlite_plan import SqliteTransaction
from writers._sqlite_store import SqliteStore
from writers._wal_index import WalIndex
from writers._writer import _TIMER_SLACK, Writer
from writers._writer_stats import Counters

from ._helpers import count, running_writer, tick, wait_until


def _writer(max_delay: float) -> Writer:
    return Writer(
        EventBus(), SqliteStore(MAIN, "unused.db"), name="w", topics=(), max_delay=max_delay
    )


def test_the_cut_allows_for_what_a_batch_takes_from_its_cut_to_its_acknowledgement() -> None:
    writer = _writer(max_delay=1.0)
    # Nothing known yet: the oldest event may wait half of max_delay.
    assert writer._cut_after() == pytest.approx(0.5)
    writer.counters.settled(0.2)  # and, for a start, a deviation of half that
    assert writer._cut_after() == pytest.approx(1.0 - 0.2 - 0.1 - _TIMER_SLACK)
    for _ in range(50):  # moving averages: they follow what batches take now
        writer.counters.settled(0.1)
    assert writer._cut_after() == pytest.approx(0.9 - _TIMER_SLACK, abs=1e-3)
    for seconds in [0.05, 0.15] * 25:  # as long on average, but irregular: cut earlier
        writer.counters.settled(seconds)
    assert writer._cut_after() < 0.9 - _TIMER_SLACK - 0.04
    for _ in range(50):  # commits too slow for max_delay: batches stay batches
        writer.counters.settled(2.0)
    assert writer._cut_after() == pytest.approx(0.5)


def test_the_moving_averages_weigh_the_latest_batch_a_fifth_and_a_quarter() -> None:
    counters = Counters(())
    counters.settled(1.0)
    assert (counters.cut_to_ack, counters.cut_to_ack_deviation) == (1.0, 0.5)
    counters.settled(2.0)
    assert counters.cut_to_ack == pytest.approx(1.2)
    assert counters.cut_to_ack_deviation == pytest.approx(0.5 + 0.25 * (1.0 - 0.5))


async def test_with_slow_commits_a_batch_is_cut_before_max_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tick transactions take half a second (in the SQLite thread: batches of more
    # than 64 rows never run inline). Once the writer has seen one, it cuts the next
    # batch so that it commits by max_delay: its commit begins before max_delay has
    # passed since its first event was published.
    slow, max_delay = 0.5, 2.0
    events: list[str] = []
    run = SqliteStore._run

    def slow_run(
        self: SqliteStore, transaction: SqliteTransaction, trial: bool, *, begun: bool = False
    ) -> None:
        if transaction.rows.get("unified_ticks"):
            events.append("commit begins")
            time.sleep(slow)
        run(self, transaction, trial, begun=begun)

    monkeypatch.setattr(SqliteStore, "_run", slow_run)
    path = tmp_path / MAIN.filename
    acked: list[list[Message]] = []
    async with (
        running_writer(path, MAIN, max_delay=max_delay, on_commit=lambda b, _: acked.append(b)) as (
            bus,
            actor,
        ),
        anyio.create_task_group() as tg,
    ):
        for n in range(100):
            bus.publish_nowait(tick(n))
        await bus.flush()  # a first batch (cut by the waiter): the writer learns
        assert actor.counters.cut_to_ack >= slow

        async def deadline() -> None:
            await anyio.sleep(max_delay)
            events.append("max_delay passed")

        for n in range(100, 200):
            bus.publish_nowait(tick(n))
        tg.start_soon(deadline)
        with anyio.fail_after(30):
            await wait_until(lambda: len(events) == 3)
    assert events == ["commit begins", "commit begins", "max_delay passed"]
    assert [len(batch) for batch in acked] == [100, 100]
    assert count(path, "unified_ticks") == 200


async def test_commits_never_checkpoint_the_thread_does_after_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = 100  # frames (AUTOCHECKPOINT): 5,000 ticks of one symbol are ~65
    monkeypatch.setattr(sqlite_wal, "AUTOCHECKPOINT", threshold)
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, max_batch=5_000) as (bus, actor):
        assert await actor.sqlite.query("PRAGMA wal_autocheckpoint") == [(0,)]
        backlogs: list[int | None] = []
        n = 0
        while n < 50_000:
            for _ in range(5_000):
                bus.publish_nowait(tick(n))
                n += 1
            await bus.flush()
            await actor.sqlite.query("SELECT 1")  # what the thread did after it is done
            backlogs.append(actor.sqlite.wal.index.backlog())
    known = [b for b in backlogs if b is not None]
    assert len(known) == len(backlogs)
    # Checkpointed as it grew past the threshold (the thread idle after each batch).
    assert max(known) < threshold
    assert count(path, "unified_ticks") == n


async def test_where_the_wal_index_cannot_be_read_sqlite_checkpoints_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WalIndex, "open", lambda self: False)
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, actor):
        await bus.publish(tick(1), wait=True)  # inline: its own settings...
        # ... and the thread's next job has SQLite's automatic checkpoint back.
        assert await actor.sqlite.query("PRAGMA wal_autocheckpoint") == [(AUTOCHECKPOINT,)]
    assert count(path, "unified_ticks") == 1


def test_the_wal_index_counts_the_frames_not_yet_checkpointed(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    conn = sqlite3.connect(path, isolation_level=None)
    index = WalIndex(path)
    try:
        assert not index.open()  # no WAL, no index
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE t (x)")
        assert index.open()
        before = index.backlog()
        assert before is not None
        for i in range(5):
            conn.execute("INSERT INTO t VALUES (?)", (i,))
        assert index.backlog() == before + 5  # a page per commit
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames == copied == before + 5
        assert index.backlog() == 0
    finally:
        index.close()
        conn.close()


def test_a_wal_index_of_another_format_is_not_read(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    with open(path + "-shm", "wb") as shm:
        shm.write(os.urandom(32_768))
    index = WalIndex(path)
    assert not index.open()
    assert index.backlog() is None
