"""No commit waits for a WAL checkpoint: the writer's SQLite thread checkpoints after
the outcome is out."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from writers import MAIN
from writers import _sqlite_store as sqlite_store
from writers._sqlite import AUTOCHECKPOINT
from writers._wal_index import WalIndex

from ._helpers import count, running_writer, tick


async def test_commits_never_checkpoint_the_thread_does_after_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = 100  # frames (AUTOCHECKPOINT): 5,000 ticks of one symbol are ~65
    monkeypatch.setattr(sqlite_store, "AUTOCHECKPOINT", threshold)
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
            backlogs.append(actor.sqlite.wal_index.backlog())
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
