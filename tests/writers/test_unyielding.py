"""A producer that never yields to the event loop (a replay, a burst): the writer's
tasks cannot run, so the publisher's own calls hand batches to the SQLite thread and
acknowledge the committed ones; every event is still stored once, in publish order."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from anyio.lowlevel import checkpoint

from eventbus import BusFull, EventBus, Message, NotStored
from writers import MAIN, create_database

from ._helpers import count, counting_writer, query, running_writer, tick, write_lock

_BATCH = 100


def _hold_the_loop_until(condition: Callable[[], bool], within: float) -> bool:
    """Block this thread (and so the event loop: no task runs) until ``condition``."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _stored_bids(path: Path) -> list[float]:
    return [bid for (bid,) in query(path, "SELECT bid FROM unified_ticks ORDER BY seq")]


async def test_batches_commit_and_are_acknowledged_while_the_producer_never_yields(
    tmp_path: Path,
) -> None:
    commits: list[int] = []
    async with counting_writer(tmp_path, commits, max_batch=_BATCH) as (path, bus, actor):
        # From here to the flush, no await: none of the writer's tasks runs.
        for n in range(_BATCH):
            bus.publish_nowait(tick(n))  # the last one hands the batch on
        assert _hold_the_loop_until(lambda: count(path, "unified_ticks") == _BATCH, within=10)
        assert commits == []  # committed, not yet acknowledged: nobody has looked
        # The publish that makes the next batch looks, and acknowledges the first.
        for n in range(_BATCH, 2 * _BATCH):
            bus.publish_nowait(tick(n))
        assert commits == [_BATCH]
        assert actor.statistics().batches == 1
        with anyio.fail_after(10):
            await bus.flush()
    assert commits == [_BATCH, _BATCH]
    assert _stored_bids(path) == [tick(n).bid for n in range(2 * _BATCH)]
    assert query(path, "SELECT value FROM writer_state WHERE key = 'tick_seq'") == [
        (2 * _BATCH + 1,)
    ]


async def test_a_batch_acknowledged_by_a_publish_while_the_writer_awaits_it_counts_once(
    tmp_path: Path,
) -> None:
    commits: list[int] = []
    async with counting_writer(tmp_path, commits, max_batch=_BATCH) as (path, bus, actor):
        with write_lock(path) as foreign:
            for n in range(_BATCH):
                bus.publish_nowait(tick(n))  # handed on: its commit waits for the lock
            await anyio.sleep(0.1)  # the writer's task comes to await that commit
            foreign.execute("ROLLBACK")
        assert _hold_the_loop_until(lambda: count(path, "unified_ticks") == _BATCH, within=10)
        # Committed while the loop is held: the next batch's publishes acknowledge it,
        # before the writer's task (still awaiting the commit) hears of it.
        for n in range(_BATCH, 2 * _BATCH):
            bus.publish_nowait(tick(n))
        assert commits == [_BATCH]
        with anyio.fail_after(10):
            await bus.flush()
        assert commits == [_BATCH, _BATCH]  # that task did not acknowledge it again
        assert actor.statistics().batches == 2
    assert _stored_bids(path) == [tick(n).bid for n in range(2 * _BATCH)]


async def test_an_on_commit_that_publishes_a_batch_is_acknowledged_once(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    commits: list[int] = []
    buses: list[EventBus] = []

    def on_commit(batch: list[Message], _at: float) -> None:
        commits.append(len(batch))
        if len(commits) == 1:  # the writer's task is acknowledging the first batch
            for n in range(_BATCH, 2 * _BATCH):
                buses[0].publish_nowait(tick(n))  # the last one hands a batch on

    async with running_writer(
        path, MAIN, max_batch=_BATCH, max_delay=3600.0, on_commit=on_commit
    ) as (bus, _):
        buses.append(bus)
        for n in range(_BATCH):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
            await bus.flush()
    assert commits == [_BATCH, _BATCH]
    assert _stored_bids(path) == [tick(n).bid for n in range(2 * _BATCH)]


async def test_a_burst_after_a_full_buffer_is_still_handed_on_by_its_publishes(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    async with running_writer(
        path, MAIN, max_batch=_BATCH, max_delay=3600.0, max_buffer=10 * _BATCH
    ) as (bus, _):
        [subscription] = bus.subscriptions()
        room = subscription.max_buffer
        with write_lock(path) as foreign:
            # No commit ends: the publishes find no room for a third batch and look
            # again and again, until the buffer is full.
            for n in range(room):
                bus.publish_nowait(tick(n))
            # Handed on or buffered, as many as the buffer holds: the producer must now
            # wait for room (and so yield), as it would if nothing were handed on.
            with pytest.raises(BusFull):
                bus.publish_nowait(tick(room))
            assert subscription.statistics().buffered < room  # some were handed on
            foreign.execute("ROLLBACK")
        with anyio.fail_after(10):
            await bus.flush()
        stored = count(path, "unified_ticks")
        # A burst later on: its publishes hand it on, with no task of the writer's.
        for n in range(3 * _BATCH):
            bus.publish_nowait(tick(n))
        assert _hold_the_loop_until(
            lambda: count(path, "unified_ticks") >= stored + _BATCH, within=10
        )
        with anyio.fail_after(10):
            await bus.flush()
    assert count(path, "unified_ticks") == room + 3 * _BATCH


async def test_a_producer_that_never_yields_still_waits_for_room_every_max_buffer_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    total = 30 * _BATCH
    waits, turns = 0, 0
    async with running_writer(
        path, MAIN, max_batch=_BATCH, max_delay=3600.0, max_buffer=5 * _BATCH
    ) as (bus, _):
        [subscription] = bus.subscriptions()
        room = subscription.max_buffer
        async with anyio.create_task_group() as tg:

            async def another_task() -> None:
                nonlocal turns
                while True:
                    turns += 1
                    await checkpoint()

            tg.start_soon(another_task)
            for n in range(total):  # yields only when it must wait for room
                time.sleep(0.00002)  # noqa: ASYNC251 - a producer slower than the writer
                try:
                    bus.publish_nowait(tick(n))
                except BusFull:
                    waits += 1
                    await bus.publish(tick(n))
            tg.cancel_scope.cancel()
        with anyio.fail_after(10):
            await bus.flush()
    # The writer keeps up, yet what its publishes hand on counts until the producer
    # waits: at most a buffer's worth of events between two waits, and the event
    # loop (another task) runs at each.
    assert waits >= total // room - 1
    assert turns >= waits
    assert _stored_bids(path) == [tick(n).bid for n in range(total)]


async def test_poison_in_a_batch_handed_on_by_a_publisher_is_dead_lettered_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    poison = tick(13).bid
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse_bid BEFORE INSERT ON unified_ticks WHEN NEW.bid = {poison} "
            "BEGIN SELECT RAISE(ABORT, 'this bid is refused'); END"
        )
        conn.commit()
    async with running_writer(path, MAIN, max_batch=_BATCH, max_delay=3600.0) as (bus, _):
        for n in range(3 * _BATCH):
            bus.publish_nowait(tick(n))
        # Taken by the publishes: the first batch fails in the SQLite thread, and the
        # one after it is skipped, before any task of the writer's has run.
        [subscription] = bus.subscriptions()
        assert subscription.statistics().received >= _BATCH
        time.sleep(0.2)  # noqa: ASYNC251 - holding the loop on purpose
        with anyio.fail_after(10), pytest.raises(NotStored, match="this bid is refused"):
            await bus.flush()
    assert _stored_bids(path) == [tick(n).bid for n in range(3 * _BATCH) if n != 13]
    assert [seq for (seq,) in query(path, "SELECT seq FROM unified_ticks ORDER BY seq")] == list(
        range(1, 3 * _BATCH)
    )
    [(error,)] = query(path, "SELECT error FROM dead_letters")
    assert "this bid is refused" in error
