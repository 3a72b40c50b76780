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

from eventbus import NotStored
from writers import MAIN, create_database

from ._helpers import count, query, running_writer, tick

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
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    commits: list[int] = []
    async with running_writer(
        path,
        MAIN,
        max_batch=_BATCH,
        max_delay=3600.0,
        on_commit=lambda batch, _: commits.append(len(batch)),
    ) as (bus, actor):
        # From here to the flush, no await: none of the writer's tasks runs.
        for n in range(3 * _BATCH):
            bus.publish_nowait(tick(n))
        assert _hold_the_loop_until(lambda: count(path, "unified_ticks") >= _BATCH, within=10)
        assert commits == []  # committed, not yet acknowledged: nobody has looked
        # The publishes of the next batch's worth look, and acknowledge it.
        for n in range(3 * _BATCH, 4 * _BATCH):
            bus.publish_nowait(tick(n))
        assert commits[:1] == [_BATCH]
        assert actor.statistics().batches >= 1
        with anyio.fail_after(10):
            await bus.flush()
    assert sum(commits) == 4 * _BATCH
    assert _stored_bids(path) == [tick(n).bid for n in range(4 * _BATCH)]
    assert query(path, "SELECT value FROM writer_state WHERE key = 'tick_seq'") == [
        (4 * _BATCH + 1,)
    ]


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
