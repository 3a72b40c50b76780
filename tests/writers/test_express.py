"""A waiter's event on an idle writer: committed and acknowledged in the waiter's task.

When someone waits for an event (``publish(wait=True)``, a flush) and the writer has
nothing in its pipeline, the waiter takes the batch itself; a small transaction then
commits right there (the SQLite thread idle), and its acknowledgement follows before
the waiter would have waited. Otherwise the batch goes the writer's usual way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from eventbus import Message, NotStored
from writers import MAIN
from writers._sqlite_thread import SqliteThread

from ._helpers import count, execution, query, running_writer, tick, wait_until

_Commits = list[tuple[list[Message], "asyncio.Task[Any] | None"]]


def _recorder() -> tuple[_Commits, Callable[[list[Message], float], None]]:
    """The batches committed, each with the task that acknowledged it; the hook."""
    commits: _Commits = []

    def on_commit(batch: list[Message], _: float) -> None:
        commits.append((list(batch), asyncio.current_task()))

    return commits, on_commit


async def test_a_lone_waiter_on_an_idle_writer_is_committed_in_its_own_task(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    commits, on_commit = _recorder()
    async with running_writer(path, MAIN, max_delay=3600.0, on_commit=on_commit) as (bus, actor):
        seq = await bus.publish(execution(1), wait=True)
        # Stored and acknowledged before publish returned, by this very task.
        assert [([m.seq for m in batch], task) for batch, task in commits] == [
            ([seq], asyncio.current_task())
        ]
        assert query(path, "SELECT ticket FROM trade_executions") == [(1,)]
        stats = actor.statistics()
        assert (stats.batches, stats.events, stats.pending) == (1, 1, 0)
        # What was published before it, unwaited for, goes in the same batch.
        bus.publish_nowait(tick(1))
        bus.publish_nowait(tick(2))
        await bus.publish(execution(2), wait=True)
        assert [len(batch) for batch, _ in commits] == [1, 3]
    assert count(path, "unified_ticks") == 2


async def test_a_group_waited_for_commits_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    commits, on_commit = _recorder()
    async with running_writer(path, MAIN, max_delay=3600.0, on_commit=on_commit) as (bus, _):
        seqs = await bus.publish_many([execution(1), execution(2)], wait=True)
        assert [[m.seq for m in batch] for batch, _ in commits] == [seqs]
    assert count(path, "trade_executions") == 2


async def test_a_waiters_event_that_cannot_be_stored_is_reported_not_stored(
    tmp_path: Path,
) -> None:
    # The same ticket with other content: the trigger refuses it. The writer's own task
    # sorts that out (dead letters), as for any batch; the waiter is told.
    path = tmp_path / MAIN.filename
    commits, on_commit = _recorder()
    async with running_writer(path, MAIN, max_delay=3600.0, on_commit=on_commit) as (bus, actor):
        await bus.publish(execution(1), wait=True)
        with pytest.raises(NotStored):
            await bus.publish(execution(1, entry_price=51_000.0), wait=True)
        await bus.publish(execution(2), wait=True)
        stats = actor.statistics()
    assert [[m.event.ticket for m in batch] for batch, _ in commits] == [[1], [2]]
    assert stats.dead_letters == 1
    assert query(path, "SELECT ticket, entry_price FROM trade_executions ORDER BY ticket") == [
        (1, 50_000.0),
        (2, 50_000.0),
    ]


async def test_while_the_sqlite_thread_is_busy_the_writer_settles_the_waiters_batch(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    commits, on_commit = _recorder()
    release = threading.Event()
    done: list[int] = []
    async with (
        running_writer(path, MAIN, max_delay=3600.0, on_commit=on_commit) as (bus, actor),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(actor.sqlite.housekeep, lambda _: release.wait(30))
        await anyio.sleep(0.05)  # the thread is in the job now

        async def publish() -> None:
            done.append(await bus.publish(execution(1), wait=True))

        tg.start_soon(publish)
        await anyio.sleep(0.05)
        assert (done, commits) == ([], [])  # submitted behind the job: not committed
        assert actor.read_now("SELECT ticket FROM trade_executions") is None  # busy
        release.set()
        with anyio.fail_after(10):
            await wait_until(lambda: bool(done))
        [(batch, task)] = commits
        assert [m.seq for m in batch] == done
        assert task is not None
        assert task is not asyncio.current_task()
    assert count(path, "trade_executions") == 1


async def test_read_now_reads_what_is_committed_through_the_writers_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, actor):
        assert actor.read_now("SELECT ticket FROM trade_executions") == []
        await bus.publish(execution(7), wait=True)
        await actor.sqlite.query("SELECT 1")  # housekeeping after the commit is done too
        assert actor.read_now("SELECT ticket FROM trade_executions WHERE ticket = ?", (7,)) == [
            (7,)
        ]
        with pytest.raises(ValueError, match="not a SELECT"):
            actor.read_now("DELETE FROM trade_executions")
        with pytest.raises(sqlite3.ProgrammingError):
            actor.read_now("SELECT ?", ())  # a mistake of the caller's: raised, not hidden
    assert count(path, "trade_executions") == 1


async def test_read_now_never_waits_for_a_lock_on_the_event_loop(tmp_path: Path) -> None:
    """read_now runs on the event loop: it reads with no busy timeout (a locked file
    makes it give up at once, and the caller reads elsewhere), never for the writer's
    busy timeout, which the SQLite thread's own next job has again."""
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, busy_timeout=30.0) as (bus, actor):
        await bus.publish(execution(1), wait=True)
        assert await actor.sqlite.query("PRAGMA busy_timeout") == [(30000,)]  # thread's
        assert actor.read_now("SELECT * FROM pragma_busy_timeout") == [(0,)]
        assert await actor.sqlite.query("PRAGMA busy_timeout") == [(30000,)]
    assert count(path, "trade_executions") == 1


async def test_inline_transactions_leave_the_thread_its_own_settings(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, busy_timeout=3.0) as (bus, actor):
        await bus.publish(execution(1), wait=True)  # committed inline
        # The thread's next job runs with the writer's busy timeout, not the inline 0.
        assert await actor.sqlite.query("PRAGMA busy_timeout") == [(3000,)]
        await bus.publish(execution(2), wait=True)
        assert await actor.sqlite.query("PRAGMA busy_timeout") == [(3000,)]
    assert count(path, "trade_executions") == 2


async def test_an_inline_transaction_wakes_the_thread_only_when_housekeeping_is_due() -> None:
    done: list[str] = []
    due = False
    thread = SqliteThread(
        "test", after_transaction=lambda: done.append("housekeeping"), housekeeping_due=lambda: due
    )
    thread.start()
    try:
        job = thread.run_inline(lambda: done.append("first"), transaction=True)
        assert job is not None
        assert job.done.is_set()
        await thread.call(lambda: None)  # whatever was queued before has run
        assert done == ["first"]
        due = True
        thread.run_inline(lambda: done.append("second"), transaction=True)
        await thread.call(lambda: None)
        assert done == ["first", "second", "housekeeping"]
    finally:
        await thread.stop()
