"""The writer's pipeline: the next batch is submitted while one commits.

Faults in the middle of it (poison, a lock held elsewhere, a kill, a stop, a
cancellation) must leave every acknowledged event stored once, and the tick seqs
unique and contiguous with ``writer_state.tick_seq``.
"""

from __future__ import annotations

import ast
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import cast

import anyio
import pytest

import schemas
from eventbus import EventBus, Message, NotStored
from writers import MAIN, WriterActor, create_database
from writers._rescue import split_point
from writers._sqlite_plan import tick_statements

from ._helpers import (
    count,
    counting_writer,
    execution,
    query,
    running_writer,
    tick,
    wait_until,
    write_lock,
    writer_process,
)

_BATCH = 100
_POISON_BID = 50_013.0  # the bid of tick(13)


def _refuse_bid(path: Path, bid: float) -> None:
    """A trigger (a user's rule) that aborts the insert of a tick with ``bid``."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse_bid BEFORE INSERT ON unified_ticks WHEN NEW.bid = {bid} "
            "BEGIN SELECT RAISE(ABORT, 'this bid is refused'); END"
        )
        conn.commit()


def _received(bus: EventBus) -> int:
    [subscription] = bus.subscriptions()
    return subscription.statistics().received


def assert_tick_seqs_contiguous(path: Path) -> int:
    """Every tick's seq is unique, they run 1..n, and writer_state says n + 1 is next."""
    seqs = [seq for (seq,) in query(path, "SELECT seq FROM unified_ticks ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert query(path, "SELECT value FROM writer_state WHERE key = 'tick_seq'") == [
        (len(seqs) + 1,)
    ]
    return len(seqs)


async def test_poison_in_a_batch_with_the_next_in_flight_is_dead_lettered_and_the_rest_lands(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    _refuse_bid(path, _POISON_BID)
    commits: list[int] = []
    async with running_writer(
        path,
        MAIN,
        max_batch=_BATCH,
        max_delay=3600.0,
        on_commit=lambda b, _: commits.append(len(b)),
    ) as (bus, _actor):
        with write_lock(path) as foreign:
            for n in range(2 * _BATCH):
                bus.publish_nowait(tick(n))
            # Both batches are taken (so planned and submitted); the first one waits
            # for the lock, the second one behind it.
            with anyio.fail_after(10):
                await wait_until(lambda: _received(bus) == 2 * _BATCH)
            foreign.execute("ROLLBACK")
        with anyio.fail_after(10), pytest.raises(NotStored, match="this bid is refused"):
            await bus.flush()
    assert sum(commits) == 2 * _BATCH - 1  # each stored part told once; not the poison
    assert assert_tick_seqs_contiguous(path) == 2 * _BATCH - 1
    bids = {bid for (bid,) in query(path, "SELECT bid FROM unified_ticks")}
    assert bids == {tick(n).bid for n in range(2 * _BATCH) if n != 13}
    [(error,)] = query(path, "SELECT error FROM dead_letters")
    assert "this bid is refused" in error


async def test_a_lock_held_elsewhere_mid_pipeline_is_waited_out_and_nothing_is_doubled(
    tmp_path: Path,
) -> None:
    commits: list[int] = []
    async with counting_writer(
        tmp_path, commits, max_batch=_BATCH, busy_timeout=0.3, max_backoff=0.05
    ) as (path, bus, actor):
        with write_lock(path) as foreign:
            for n in range(2 * _BATCH):
                bus.publish_nowait(tick(n))
            bus.publish_nowait(execution(1))
            with anyio.fail_after(10):
                await wait_until(lambda: _received(bus) >= 2 * _BATCH)
                # SQLITE_BUSY, retried: the first batch failed with the second queued.
                await wait_until(lambda: actor.statistics().retries >= 2)
            assert count(path, "unified_ticks") == 0
            assert "locked" in (actor.statistics().last_error or "")
            foreign.execute("ROLLBACK")
        with anyio.fail_after(10):
            await bus.flush()
        stats = actor.statistics()
    assert commits == [_BATCH, _BATCH, 1]
    assert assert_tick_seqs_contiguous(path) == 2 * _BATCH
    assert count(path, "trade_executions") == 1
    assert (stats.events, stats.dead_letters, stats.last_error) == (2 * _BATCH + 1, 0, None)


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_leaving_with_two_batches_in_flight_commits_each_once(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    total = 2 * _BATCH + 50
    with anyio.CancelScope() as scope:
        async with (
            EventBus(admit=schemas.admit) as bus,
            WriterActor(bus, MAIN, path, max_batch=_BATCH, max_delay=3600.0) as actor,
        ):
            with write_lock(path) as foreign:
                for n in range(total):
                    bus.publish_nowait(tick(n))
                with anyio.fail_after(10):
                    await wait_until(lambda: _received(bus) == 2 * _BATCH)
                # Two in flight (one waiting for the lock), 50 buffered: stop now.
                if how == "stop":
                    actor.stop()
                else:
                    scope.cancel()
                foreign.execute("ROLLBACK")
            # Leaving: the writer commits what it holds and what is buffered.
    assert scope.cancelled_caught == (how == "cancel")
    assert assert_tick_seqs_contiguous(path) == total
    assert {bid for (bid,) in query(path, "SELECT bid FROM unified_ticks")} == {
        tick(n).bid for n in range(total)
    }


async def test_a_writer_killed_mid_pipeline_keeps_every_acknowledged_event_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    log = tmp_path / "acknowledged.log"
    async with writer_process("ingest", path, log) as ingest:

        async def enough_acknowledged() -> bool:
            return (await anyio.Path(log).read_text()).count("\n") >= 300

        with anyio.fail_after(30):
            await wait_until(enough_acknowledged)
        ingest.send_signal(signal.SIGKILL)
        assert await ingest.wait() == -signal.SIGKILL
    acknowledged = (await anyio.Path(log).read_text()).split("\n")[:-1]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    stored = [event_id for (event_id,) in query(path, "SELECT event_id FROM trade_executions")]
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)
    ticks = assert_tick_seqs_contiguous(path)
    assert ticks > 0
    # A new writer carries on where the killed one's last commit ended.
    async with running_writer(path, MAIN, max_batch=_BATCH) as (bus, _):
        for n in range(3 * _BATCH):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
    assert assert_tick_seqs_contiguous(path) == ticks + 3 * _BATCH


# ------------------------------------------------------------------ the tick fast path


@pytest.mark.parametrize("chunk", [8, 4096])
async def test_every_batch_size_stores_each_tick_once_with_its_seq(
    tmp_path: Path, chunk: int
) -> None:
    sizes = [1, 7, 8, 9, 16, 17, 63, 64, 65, 100] if chunk == 8 else [4095, 4096, 4097, 5000]
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    ticks = [tick(n) for n in range(sum(sizes))]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        first = 0
        for size in sizes:
            batch = ticks[first : first + size]
            statements = tick_statements("unified_ticks", batch, first + 1, chunk)
            assert len(statements) <= (3 if size > chunk else 12)
            conn.execute("BEGIN IMMEDIATE")
            for _table, sql, rows in statements:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
            first += size
    assert query(path, "SELECT seq, bid FROM unified_ticks ORDER BY seq") == [
        (n + 1, t.bid) for n, t in enumerate(ticks)
    ]


# --------------------------------------------------------------------------- groups


class _Member:
    def __init__(self, seq: int, group: int) -> None:
        self.seq = seq
        self.group = group


def _batch(*groups: int) -> list[Message]:
    return cast(list[Message], [_Member(seq, g) for seq, g in enumerate(groups, 1)])


def test_a_batch_is_split_between_groups_never_inside_one() -> None:
    assert split_point(_batch(0, 0, 0, 0)) == 2
    # seqs 2-4 were published together (group 4): the cut nearest the middle is before.
    assert split_point(_batch(0, 4, 4, 4, 0, 0)) == 4
    assert split_point(_batch(0, 4, 4, 4)) == 1
    assert split_point(_batch(3, 3, 3)) is None
    assert split_point(_batch(2, 2, 4, 4)) == 2


async def test_a_group_with_a_refused_member_is_dead_lettered_whole(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    _refuse_bid(path, _POISON_BID)
    async with running_writer(path, MAIN, max_batch=_BATCH, max_delay=3600.0) as (bus, _):
        bus.publish_nowait(tick(1))
        seqs = bus.publish_many_nowait([tick(12), tick(13), execution(5)])
        bus.publish_nowait(tick(14))
        with anyio.fail_after(10), pytest.raises(NotStored) as refused:
            await bus.flush()
        await bus.flush()  # reported once
    assert refused.value.seq in seqs
    assert sorted(bid for (bid,) in query(path, "SELECT bid FROM unified_ticks")) == [
        tick(1).bid,
        tick(14).bid,
    ]
    assert count(path, "trade_executions") == 0
    letters = dict(query(path, "SELECT seq, error FROM dead_letters"))
    assert sorted(letters) == seqs
    assert "this bid is refused" in letters[seqs[1]]
    for seq in (seqs[0], seqs[2]):
        assert f"its member seq {seqs[1]} (Tick) was refused" in letters[seq]
    assert_tick_seqs_contiguous(path)


# ------------------------------------------------------------------------- the design

_NEUTRAL = ("_writer.py", "_pipeline.py", "_rescue.py", "_store.py", "_writer_stats.py")


@pytest.mark.parametrize("module", _NEUTRAL)
def test_the_generic_writer_imports_no_database_driver(module: str) -> None:
    source = (Path(__file__).parents[2] / "writers" / module).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert "sqlite" not in node.module, f"{module} imports {node.module}"
    assert not imported & {"sqlite3", "aiosqlite", "asyncpg"}


@pytest.mark.parametrize("buffered", [1, 10 * _BATCH])
async def test_an_on_commit_that_publishes_to_its_writer_ends_the_drain_at_its_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, buffered: int
) -> None:
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    buses: list[EventBus] = []

    def on_commit(batch: list[Message], _at: float) -> None:
        buses[0].publish_nowait(tick(len(batch)))  # one more event per commit, for ever

    async with EventBus(admit=schemas.admit) as bus:
        buses.append(bus)
        async with WriterActor(
            bus, MAIN, path, max_batch=_BATCH, drain_timeout=0.5, on_commit=on_commit
        ):
            for n in range(3 * _BATCH):
                bus.publish_nowait(tick(n))
            with anyio.fail_after(10):
                await bus.flush()
            for n in range(buffered - 1):  # with the one on_commit published
                bus.publish_nowait(tick(n))
            left_at = time.monotonic()
        # Leaving drains what is buffered, and what each commit publishes, until the
        # drain's timeout: not for ever.
        assert time.monotonic() - left_at < 5
    assert count(path, "unified_ticks") >= 3 * _BATCH + buffered
    assert "could not be committed before shutdown (drain timed out)" in caplog.text
