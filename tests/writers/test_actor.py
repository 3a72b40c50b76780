"""The writer actor: batching by size and by time, shutdown, statistics, pragmas."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest
from anyio.lowlevel import checkpoint

import schemas
from eventbus import EventBus, Message
from writers import LOGS, MAIN, WriterActor

from ._helpers import count, execution, query, running_writer, tick, wait_until


async def test_a_full_batch_commits_without_waiting_for_max_delay(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    sizes: list[int] = []
    async with running_writer(
        path, MAIN, max_batch=10, max_delay=30.0, on_commit=lambda b, _: sizes.append(len(b))
    ) as (bus, actor):
        for n in range(30):
            bus.publish_nowait(tick(n))
        # max_delay is far beyond the deadline: only full batches can commit in time.
        with anyio.fail_after(10):
            await bus.flush()
        stats = actor.statistics()
    assert sizes == [10, 10, 10]
    assert (stats.batches, stats.max_batch, stats.mean_batch) == (3, 10, 10.0)
    assert count(path, "unified_ticks") == 30


async def test_events_within_max_delay_commit_together_once_the_oldest_waited_it(
    tmp_path: Path,
) -> None:
    # The oldest event of a batch waits max_delay less what a batch takes from its cut
    # to its commit; before the first commit that is not known, and it waits half.
    path = tmp_path / MAIN.filename
    max_delay = 1.0
    commits: list[tuple[list[Message], float]] = []
    async with running_writer(
        path,
        MAIN,
        max_batch=1_000,
        max_delay=max_delay,
        on_commit=lambda batch, at: commits.append((list(batch), at)),
    ) as (bus, _):
        published_at = []
        for first in (0, 3):
            published_at.append(time.monotonic())
            for n in range(first, first + 3):
                bus.publish_nowait(tick(n))
                await anyio.sleep(0.05)
            # Not a flush: a waiter would cut the batch short. The timer alone commits it.
            batches = len(published_at)
            with anyio.fail_after(10):
                await wait_until(lambda: len(commits) == batches)  # noqa: B023
    [(first_batch, first_at), (second_batch, second_at)] = commits
    assert [m.event for m in first_batch] == [tick(n) for n in range(3)]
    assert [m.event for m in second_batch] == [tick(n) for n in range(3, 6)]
    assert first_at - published_at[0] >= max_delay / 2
    # A batch of three ticks commits in far less than a tenth of max_delay.
    assert second_at - published_at[1] >= max_delay * 0.9


async def test_a_single_event_is_committed_by_the_timer_without_more_traffic(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, max_batch=1_000, max_delay=0.1) as (bus, _):
        bus.publish_nowait(execution(7))
        # No flush, nothing else published: only the writer's timer can commit it.
        with anyio.fail_after(10):
            await wait_until(lambda: bool(query(path, "SELECT ticket FROM trade_executions")))
        assert query(path, "SELECT ticket, status FROM trade_positions") == [(7, "open")]


async def test_leaving_the_writer_commits_everything_it_was_sent(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with EventBus(admit=schemas.admit) as bus:
        async with WriterActor(bus, MAIN, path, max_batch=500, max_delay=30.0):
            for n in range(2_000):
                bus.publish_nowait(tick(n))
            for ticket in range(1, 11):
                bus.publish_nowait(execution(ticket))
            await checkpoint()  # the writer takes a first batch, holding it in flight
        # No flush, and max_delay has not passed: the writer drains on its way out,
        # while the bus is still open.
        assert not bus.closed
    assert count(path, "unified_ticks") == 2_000
    assert count(path, "trade_executions") == 10


async def test_statistics_count_rows_batches_and_pending_events(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, max_batch=5, max_delay=0.1) as (bus, actor):
        for n in range(6):
            bus.publish_nowait(tick(n))
        bus.publish_nowait(execution(1))
        bus.publish_nowait(execution(2))
        before = actor.statistics()
        with anyio.fail_after(10):
            await bus.flush()
        after = actor.statistics()
    assert before.pending == 8
    assert before.batches == 0
    assert (after.database, after.path) == ("main", str(path))
    assert after.rows == {
        "unified_ticks": 6,
        "candles": 0,
        "trade_executions": 2,
        "trade_positions": 2,
        "position_updates": 0,
        "tick_imports": 0,
        "exit_rules": 0,
        "oco_groups": 0,
        "monitor_marks": 0,
        "dead_letters": 0,
    }
    # A full batch of 5, then the 3 left once they waited max_delay.
    assert (after.batches, after.events, after.max_batch, after.mean_batch) == (2, 8, 5, 4.0)
    assert after.pending == 0
    assert 0 < after.last_commit_ms <= after.max_commit_ms
    assert 0 < after.mean_commit_ms <= after.max_commit_ms
    assert (after.retries, after.dead_letters, after.last_error) == (0, 0, None)
    assert after.wal_frames > 0


async def test_the_database_is_in_wal_mode_with_the_chosen_synchronous(tmp_path: Path) -> None:
    path = tmp_path / LOGS.filename
    async with running_writer(path, LOGS, synchronous="FULL", busy_timeout=2.5) as (_, actor):
        [synchronous] = await actor.sqlite.query("PRAGMA synchronous")
        [busy_timeout] = await actor.sqlite.query("PRAGMA busy_timeout")
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    assert synchronous == (2,)  # FULL
    assert busy_timeout == (2500,)


async def test_the_default_synchronous_is_normal(tmp_path: Path) -> None:
    async with running_writer(tmp_path / LOGS.filename, LOGS) as (_, actor):
        assert await actor.sqlite.query("PRAGMA synchronous") == [(1,)]  # NORMAL


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_batch", 0),
        ("max_delay", -1.0),
        ("max_delay", float("nan")),
        ("synchronous", "FAST"),
        ("switch_interval", 0.0),
    ],
)
async def test_invalid_settings_are_refused(tmp_path: Path, option: str, value: object) -> None:
    async with EventBus(admit=schemas.admit) as bus:
        with pytest.raises(ValueError, match=option):
            WriterActor(bus, MAIN, tmp_path / MAIN.filename, **{option: value})  # type: ignore[arg-type]


async def test_writers_shorten_the_switch_interval_while_they_run(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    assert before > 0.001  # CPython's default (5 ms), which starves the SQLite thread
    async with running_writer(tmp_path / MAIN.filename, MAIN) as (bus, _):
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        async with WriterActor(bus, LOGS, tmp_path / LOGS.filename, switch_interval=0.0002):
            assert sys.getswitchinterval() == pytest.approx(0.0002)
        # Still shortened: another writer runs.
        assert sys.getswitchinterval() <= 0.0005
    assert sys.getswitchinterval() == before


async def test_a_writer_can_leave_the_switch_interval_alone(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    async with running_writer(tmp_path / MAIN.filename, MAIN, switch_interval=None):
        assert sys.getswitchinterval() == before
    assert sys.getswitchinterval() == before


async def test_a_switch_interval_changed_meanwhile_is_not_undone(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    try:
        async with running_writer(tmp_path / MAIN.filename, MAIN):
            sys.setswitchinterval(0.002)  # the application decides otherwise
        assert sys.getswitchinterval() == pytest.approx(0.002)
        sys.setswitchinterval(before)
        # Changed between two writers' starts: not undone when both stop either.
        async with running_writer(tmp_path / MAIN.filename, MAIN) as (bus, _):
            sys.setswitchinterval(0.0001)
            async with WriterActor(bus, LOGS, tmp_path / LOGS.filename):
                assert sys.getswitchinterval() == pytest.approx(0.0001)
        assert sys.getswitchinterval() == pytest.approx(0.0001)
    finally:
        sys.setswitchinterval(before)


async def test_a_waiter_cuts_the_batch_short(tmp_path: Path) -> None:
    # An hour of max_delay, a batch far from full: a flush (or a publish with wait=True)
    # makes the writer take what is buffered now.
    path = tmp_path / MAIN.filename
    sizes: list[int] = []
    async with running_writer(
        path, MAIN, max_batch=1_000, max_delay=3600.0, on_commit=lambda b, _: sizes.append(len(b))
    ) as (bus, _):
        for n in range(3):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
            await bus.publish(execution(8), wait=True)
    assert sizes == [3, 1]
    assert query(path, "SELECT count(*) FROM unified_ticks") == [(3,)]
