"""Faults: poison goes to dead_letters, disk full is retried, a killed writer loses nothing."""

from __future__ import annotations

import signal
import time
from functools import partial
from pathlib import Path

import anyio
import msgspec
import pytest

import schemas
from eventbus import EventBus, Message, NotStored
from schemas import TradeAlert
from writers import ANALYSIS, MAIN, WriterActor

from ._helpers import (
    count,
    execution,
    position_update,
    query,
    recommendation,
    running_writer,
    tick,
    wait_until,
    writer_process,
)


async def test_an_event_without_a_table_is_dead_lettered_and_its_batch_lands(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    alert = TradeAlert(alert_type="risk", severity="critical", message="no table in main")
    started = time.time_ns()
    batches: list[int] = []
    async with running_writer(
        path, MAIN, max_batch=24, on_commit=lambda batch, _: batches.append(len(batch))
    ) as (bus, actor):
        for n in range(10):
            bus.publish_nowait(tick(n))
        bus.publish_nowait(execution(1))
        # From elsewhere, on a topic of the main writer: not one of its events.
        seq = bus.publish_encoded_nowait(schemas.encode(alert), "trade.alert.x")
        bus.publish_nowait(execution(2))
        for n in range(10, 20):
            bus.publish_nowait(tick(n))
        bus.publish_nowait(position_update(1, ts=2_000, current_price=50_100.0))
        with pytest.raises(NotStored, match="does not store TradeAlert") as refused:
            await bus.flush()
        await bus.flush()  # reported once
    assert (refused.value.event_type, refused.value.topic, refused.value.seq) == (
        "TradeAlert",
        "trade.alert.x",
        seq,
    )
    assert refused.value.reason.startswith("went to dead_letters: ")
    # One batch of 24, committed in parts around the poison (each acknowledged once;
    # on_commit is told of the 23 stored, not of the dead letter).
    assert sum(batches) == 23
    assert count(path, "unified_ticks") == 20
    assert query(path, "SELECT ticket FROM trade_executions ORDER BY ticket") == [(1,), (2,)]
    assert query(path, "SELECT ticket, current_price FROM trade_positions ORDER BY ticket") == [
        (1, 50_100.0),
        (2, 50_000.0),
    ]
    [(topic, event_type, data, error, ts)] = query(
        path, "SELECT topic, event_type, data, error, ts FROM dead_letters"
    )
    assert (topic, event_type, data) == ("trade.alert.x", "TradeAlert", schemas.encode(alert))
    assert "does not store TradeAlert" in error
    assert started <= ts <= time.time_ns()
    stats = actor.statistics()
    assert (stats.dead_letters, stats.rows["dead_letters"], stats.events) == (1, 1, 23)


async def test_a_recommendation_reusing_an_id_is_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    original = recommendation()
    # A new event_id, the same key, other content (the same content would be a no-op).
    duplicate = msgspec.structs.replace(recommendation(original.recommendation_id), confidence=60.0)
    assert duplicate.event_id != original.event_id
    async with running_writer(path, ANALYSIS) as (bus, actor):
        bus.publish_nowait(original)
        bus.publish_nowait(duplicate)
        bus.publish_nowait(recommendation())
        with pytest.raises(NotStored, match="recommendation_id was stored before by another event"):
            await bus.flush()
        assert actor.statistics().dead_letters == 1
    assert count(path, "trade_recommendations") == 2
    assert query(
        path,
        "SELECT event_id FROM trade_recommendations WHERE recommendation_id = ?",
        (original.recommendation_id,),
    ) == [(original.event_id,)]
    [(event_type, data, error)] = query(path, "SELECT event_type, data, error FROM dead_letters")
    assert (event_type, data) == ("TradeRecommendation", schemas.encode(duplicate))
    assert "recommendation_id was stored before by another event" in error


async def test_an_event_whose_bytes_are_damaged_is_dead_lettered_as_they_are(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    damaged = b"\xc1 not msgpack"
    async with running_writer(path, MAIN) as (bus, actor):
        for ticket in (1, 2, 3):
            bus.publish_nowait(execution(ticket))
            if ticket == 2:  # arrives encoded from elsewhere, and damaged on the way
                bus.publish_encoded_nowait(damaged, "trade.position.BTCUSDT")
            else:
                bus.publish_nowait(position_update(ticket, ts=2_000, current_price=50_500.0))
        with pytest.raises(NotStored, match="malformed msgpack") as refused:
            await bus.flush()
        assert actor.statistics().dead_letters == 1
        assert refused.value.event_type == "event"  # the bytes name no type
    assert query(path, "SELECT ticket, current_price FROM trade_positions ORDER BY ticket") == [
        (1, 50_500.0),
        (2, 50_000.0),
        (3, 50_500.0),
    ]
    assert query(path, "SELECT topic, data FROM dead_letters") == [
        ("trade.position.BTCUSDT", damaged)
    ]


async def test_a_full_disk_holds_the_batch_until_space_returns(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, max_backoff=0.05) as (bus, actor):
        bus.publish_nowait(execution(1))
        await bus.flush()
        # The database may not grow by a single page: every insert is SQLITE_FULL.
        sql = actor.sqlite.query  # on the writer's own connection
        [(pages,)] = await sql("PRAGMA page_count")
        await sql(f"PRAGMA max_page_count={pages}")
        [subscription] = bus.subscriptions()
        acknowledged = subscription.statistics().acknowledged
        for n in range(2_000):
            bus.publish_nowait(tick(n))
        bus.publish_nowait(execution(2))
        with anyio.fail_after(10):
            await wait_until(lambda: actor.statistics().retries >= 2)
        stats = actor.statistics()
        assert stats.pending == 2_001
        assert "full" in (stats.last_error or "")
        assert subscription.statistics().acknowledged == acknowledged
        assert count(path, "unified_ticks") == 0

        await sql("PRAGMA max_page_count=1073741823")  # the disk is freed
        with anyio.fail_after(10):
            await bus.flush()
        stats = actor.statistics()
        assert (stats.pending, stats.dead_letters, stats.last_error) == (0, 0, None)
    assert count(path, "unified_ticks") == 2_000
    assert count(path, "trade_executions") == 2


async def test_a_writer_killed_mid_ingest_keeps_every_acknowledged_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    log = tmp_path / "acknowledged.log"
    async with writer_process("ingest", path, log) as ingest:

        async def enough_acknowledged() -> bool:
            return (await anyio.Path(log).read_text()).count("\n") >= 100

        with anyio.fail_after(30):
            await wait_until(enough_acknowledged)
        ingest.send_signal(signal.SIGKILL)
        assert await ingest.wait() == -signal.SIGKILL
    # A torn last line (killed mid-write) was not fully logged: it does not count.
    acknowledged = (await anyio.Path(log).read_text()).split("\n")[:-1]
    assert len(acknowledged) >= 100
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    stored = {event_id for (event_id,) in query(path, "SELECT event_id FROM trade_executions")}
    assert set(acknowledged) <= stored
    assert count(path, "unified_ticks") > 0


async def test_an_event_that_cannot_be_encoded_goes_to_dead_letters_and_its_caller_is_told(
    tmp_path: Path,
) -> None:
    # A bare bus checks nothing: the writer finds that SQLite cannot store the ticket,
    # and the dead letter cannot hold its bytes either (msgpack refuses the int).
    path = tmp_path / MAIN.filename
    huge = msgspec.structs.replace(execution(1), ticket=2**70)
    async with EventBus() as bus, WriterActor(bus, MAIN, path):
        with pytest.raises(NotStored) as refused:
            await bus.publish(huge, wait=True)
        await bus.publish(execution(2), wait=True)  # the writer goes on
    assert refused.value.event_type == "TradeExecution"
    [(event_type, data, error)] = query(path, "SELECT event_type, data, error FROM dead_letters")
    assert (event_type, data) == ("TradeExecution", b"")
    assert "cannot be encoded" in error
    assert query(path, "SELECT ticket FROM trade_executions") == [(2,)]


async def test_on_commit_is_told_of_what_was_stored_and_not_of_dead_letters(
    tmp_path: Path,
) -> None:
    committed: list[int] = []
    path = tmp_path / MAIN.filename
    async with running_writer(
        path, MAIN, max_batch=4, on_commit=lambda batch, _at: committed.extend(m.seq for m in batch)
    ) as (bus, _actor):
        await bus.publish(execution(1), wait=True)
        ticks = [bus.publish_nowait(tick(n)) for n in range(6)]
        refused = bus.publish_nowait(execution(1))  # another event_id: the ticket is taken
        ticks += [bus.publish_nowait(tick(n)) for n in range(6, 9)]
        with pytest.raises(NotStored):
            await bus.flush()
    assert refused not in committed
    assert sorted(committed) == committed
    assert set(ticks) <= set(committed)


async def test_an_on_commit_that_raises_is_logged_and_every_stored_event_is_acknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [0]

    def on_commit(_batch: list[Message], _at: float) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("a bug in the caller's hook")

    path = tmp_path / MAIN.filename
    async with (
        running_writer(path, MAIN, max_batch=5, on_commit=on_commit) as (bus, _actor),
        anyio.create_task_group() as tg,
    ):
        for ticket in range(1, 31):
            tg.start_soon(partial(bus.publish, execution(ticket), wait=True))
    assert calls[0] >= 3  # the writer went on after the hook raised
    assert count(path, "trade_executions") == 30
    assert "on_commit raised; the writer goes on" in caplog.text


async def test_a_lone_commit_waits_for_a_foreign_write_lock_without_stopping_the_event_loop(
    tmp_path: Path,
) -> None:
    """A small transaction on an idle writer runs in the event loop's thread, unless
    another connection holds the write lock: then the SQLite thread waits for it."""
    import sqlite3

    path = tmp_path / "main.db"
    async with running_writer(path, MAIN, busy_timeout=10.0) as (bus, _writer):
        await bus.publish(execution(1), wait=True)
        await anyio.sleep(0.2)  # the writer idle: its first WAL inspection done
        foreign = sqlite3.connect(path, isolation_level=None)
        foreign.execute("BEGIN IMMEDIATE")
        beats = 0
        stored = anyio.Event()

        async def heartbeat() -> None:
            nonlocal beats
            while True:
                await anyio.sleep(0.01)
                beats += 1

        async def call() -> None:
            await bus.publish(execution(2), wait=True)
            stored.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            tg.start_soon(call)
            await anyio.sleep(1.0)
            held_beats = beats
            assert not stored.is_set()  # held back by the foreign lock...
            foreign.execute("COMMIT")
            foreign.close()
            with anyio.fail_after(30):
                await stored.wait()  # ...and stored once it is released
            tg.cancel_scope.cancel()
        assert held_beats >= 20  # the event loop ran on meanwhile
    assert query(path, "SELECT ticket FROM trade_executions ORDER BY 1") == [(1,), (2,)]
