"""An acknowledgement means stored: attacks on what a returning call promises.

A ``publish(wait=True)``, ``flush()`` or ``log_*`` call that returns promises that
its events are in their database. Each test here attacks that promise: the -wal file
deleted under a running writer, an event dead-lettered, a writer that dies or hits a
bug, an explicit topic that is not the event's, a node used outside ``async with``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import signal
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest
from anyio.abc import TaskStatus

import schemas
from eventbus import BusClosed, EventBus, EventBusError, NotStored
from schemas import Direction, Tick, TradeExecution, TradeRecommendation
from tradebus import NoRoute, Topology, TradebusError, TradeIntegration, open_node
from writers import ANALYSIS, LOGS, MAIN, DatabaseSpec, WriterActor, WriterError

from ._helpers import read_only, script, wait_until

_MAIN = MAIN.filename


def execution(ticket: int) -> TradeExecution:
    return TradeExecution(
        ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0, volume=0.01
    )


def tick(n: int) -> Tick:
    return Tick(symbol="BTCUSDT", bid=50_000.0 + n, ask=50_000.5 + n, ts=1_000 + n)


def recommendation(recommendation_id: str | None = None) -> TradeRecommendation:
    fields: dict[str, Any] = {}
    if recommendation_id is not None:
        fields["recommendation_id"] = recommendation_id
    return TradeRecommendation(
        symbol="BTCUSDT",
        direction="BUY",
        entry_price=50_000.0,
        stop_loss=49_500.0,
        take_profit=51_000.0,
        confidence=85.0,
        **fields,
    )


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read with a fresh plain sqlite3 connection, after the writer."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


class Writer:
    """A writer run in its own task: its failure is recorded, not raised into the test."""

    def __init__(self, bus: EventBus, spec: DatabaseSpec, path: Path, **options: Any) -> None:
        self.actor = WriterActor(bus, spec, path, **options)
        self.error: BaseException | None = None
        self.stopped = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.actor.run(task_status=task_status)
        except WriterError as exc:
            self.error = exc
        finally:
            self.stopped.set()


@asynccontextmanager
async def bus_and_writer(
    spec: DatabaseSpec, path: Path, **options: Any
) -> AsyncIterator[tuple[EventBus, Writer]]:
    async with EventBus(admit=schemas.admit) as bus, anyio.create_task_group() as tg:
        writer = Writer(bus, spec, path, **options)
        await tg.start(writer.run)
        yield bus, writer
        writer.actor.stop()


# ------------------------------------------------------- files deleted under a writer


async def ingest_until_refused(
    path: Path, suffix: str, *, concurrent: bool
) -> tuple[list[int], BaseException, Writer]:
    """Publish executions with wait=True until the bus refuses one; delete the file
    ``path + suffix`` once 20 are acknowledged (from another thread while events flow,
    or between two publishes). Return the acknowledged tickets, the refusal, the writer."""
    acknowledged: list[int] = []
    enough = anyio.Event()
    async with bus_and_writer(MAIN, path, max_delay=0.001) as (bus, writer):

        async def delete_when_enough() -> None:
            await enough.wait()
            await anyio.to_thread.run_sync(os.unlink, f"{path}{suffix}")

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                if concurrent:
                    tg.start_soon(delete_when_enough)
                for ticket in itertools.count(1):
                    try:
                        await bus.publish(execution(ticket), wait=True)
                    except EventBusError as exc:
                        refused: BaseException = exc
                        break
                    acknowledged.append(ticket)
                    if len(acknowledged) == 20:
                        if concurrent:
                            enough.set()
                        else:
                            os.unlink(f"{path}{suffix}")
            await writer.stopped.wait()
    return acknowledged, refused, writer


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
@pytest.mark.parametrize("concurrent", [False, True], ids=["between", "while-flowing"])
async def test_a_deleted_wal_or_shm_stops_the_writer_and_keeps_every_acknowledged_event(
    tmp_path: Path, suffix: str, concurrent: bool
) -> None:
    path = tmp_path / _MAIN
    async with bus_and_writer(MAIN, path):
        pass  # the database exists
    # Another connection stays open throughout: the writer's connection, closing, is
    # then not the last one, so SQLite does not checkpoint the (unlinked) WAL into the
    # database on close. Only the writer's own rescue can save what it acknowledged.
    with closing(sqlite3.connect(path)) as keeper:
        keeper.execute("SELECT count(*) FROM trade_executions").fetchall()
        acknowledged, refused, writer = await ingest_until_refused(
            path, suffix, concurrent=concurrent
        )
        # Read as a crash would leave it: whatever was only in the unlinked WAL is gone.
        stored = {ticket for (ticket,) in rows(path, "SELECT ticket FROM trade_executions")}
        assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert isinstance(refused, BusClosed)
    assert isinstance(refused.__cause__, WriterError)
    assert refused.__cause__ is writer.error
    message = str(writer.error)
    assert f"{path}{suffix} vanished while its writer ran" in message
    assert "every committed transaction was copied into" in message
    assert len(acknowledged) >= 20
    assert set(acknowledged) <= stored


async def test_a_deleted_database_stops_the_writer_before_it_acknowledges_more(
    tmp_path: Path,
) -> None:
    path = tmp_path / _MAIN
    acknowledged, refused, writer = await ingest_until_refused(path, "", concurrent=True)
    assert len(acknowledged) >= 20
    assert isinstance(refused, BusClosed)
    assert refused.__cause__ is writer.error
    assert f"{path} vanished while its writer ran" in str(writer.error)


# ---------------------------------------------------------------- explicit topics


async def test_an_explicit_topic_that_is_not_the_events_own_is_refused(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bus = node.bus
        with pytest.raises(EventBusError) as refused:
            await bus.publish(execution(1), topic="trades.execution.X", wait=True)
        assert str(refused.value).startswith(
            "cannot publish TradeExecution to 'trades.execution.X': its own topic is "
            "'trade.execution.BTCUSDT'"
        )
        # A topic of another database's family:
        with pytest.raises(EventBusError, match=re.escape("logs.alert.critical")):
            await bus.publish(execution(2), topic="logs.alert.critical", wait=True)
        with pytest.raises(EventBusError, match=re.escape("'ticks.BTCUSDT'")):
            bus.publish_nowait(tick(1), topic="ticks.BTCUSDT")
        with pytest.raises(EventBusError, match=re.escape("'market.tick.ETHUSDT'")):
            await anyio.to_thread.run_sync(
                lambda: bus.publish_threadsafe(tick(2), topic="market.tick.ETHUSDT")
            )
        assert bus.published == 0
        await bus.publish(tick(3), topic="market.tick.BTCUSDT", wait=True)  # its own: taken
        await bus.flush()
    assert rows(tmp_path / _MAIN, "SELECT count(*) FROM unified_ticks") == [(1,)]
    assert rows(tmp_path / _MAIN, "SELECT count(*) FROM dead_letters") == [(0,)]


# -------------------------------------------------------------------- dead letters


async def test_a_dead_lettered_event_is_not_acknowledged_as_stored(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    original = recommendation()
    # The same recommendation_id for another recommendation: the writer refuses it.
    duplicate = msgspec.structs.replace(recommendation(original.recommendation_id), confidence=60.0)
    after = recommendation()
    async with bus_and_writer(ANALYSIS, path, max_delay=0.2) as (bus, _writer):
        outcomes: dict[str, BaseException | None] = {}

        async def publish(name: str, event: TradeRecommendation) -> None:
            try:
                await bus.publish(event, wait=True)
                outcomes[name] = None
            except NotStored as exc:
                outcomes[name] = exc

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:  # one batch: bisection finds it
                for name, event in (("original", original), ("duplicate", duplicate)):
                    tg.start_soon(publish, name, event)
                tg.start_soon(publish, "after", after)
            await bus.flush()  # the waiter was told: the flush is not
    failure = outcomes.pop("duplicate")
    assert outcomes == {"original": None, "after": None}
    assert isinstance(failure, NotStored)
    assert (failure.event_type, failure.topic) == ("TradeRecommendation", duplicate.topic)
    assert failure.reason.startswith("went to dead_letters: IntegrityError: trade_recommendations")
    assert failure.subscription == "writer:analysis"
    assert str(failure).startswith(f"TradeRecommendation (topic {duplicate.topic!r}, seq ")
    stored = rows(path, "SELECT event_id FROM trade_recommendations ORDER BY event_id")
    assert stored == sorted([(original.event_id,), (after.event_id,)])
    assert rows(path, "SELECT seq, data FROM dead_letters") == [
        (failure.seq, schemas.encode(duplicate))
    ]


async def test_log_calls_raise_not_stored_for_a_dead_lettered_event(tmp_path: Path) -> None:
    # Two calls racing for one ticket both pass the check at the call (neither is
    # committed yet); the writer refuses the second, and its caller is told.
    outcomes: list[BaseException | str] = []

    async def execute(bot: TradeIntegration, direction: Direction) -> None:
        try:
            outcomes.append(
                await bot.log_trade_execution(
                    ticket=7, symbol="BTCUSDT", direction=direction, entry_price=50_000.0,
                    volume=0.01,
                )
            )  # fmt: skip
        except NotStored as exc:
            outcomes.append(exc)

    # Neither commits before both are published: another connection holds the
    # database's write lock (the writer retries) until both calls have published.
    async with open_node(tmp_path, busy_timeout=0.05, max_backoff=0.05) as node:
        bot = node.integration("chatgpt_bot")
        foreign = sqlite3.connect(tmp_path / MAIN.filename, isolation_level=None)
        try:
            foreign.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(execute, bot, "BUY")
                tg.start_soon(execute, bot, "SELL")
                await wait_until(lambda: node.bus.published >= 2)
                foreign.execute("ROLLBACK")
        finally:
            foreign.close()
        await node.bus.flush()  # reported once, to the caller
    [refused] = [o for o in outcomes if isinstance(o, NotStored)]
    [stored] = [o for o in outcomes if isinstance(o, str)]
    assert refused.event_type == "TradeExecution"
    assert "ticket was opened before by another execution" in refused.reason
    main = tmp_path / MAIN.filename
    assert rows(main, "SELECT event_id FROM trade_executions") == [(stored,)]
    assert rows(main, "SELECT count(*) FROM dead_letters") == [(1,)]


async def test_a_waiter_cancelled_while_its_event_is_dead_lettered_leaves_it_to_a_flush(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    original = recommendation()
    duplicate = msgspec.structs.replace(recommendation(original.recommendation_id), confidence=60.0)
    async with bus_and_writer(ANALYSIS, path, busy_timeout=0.05, max_backoff=0.05) as (
        bus,
        _writer,
    ):
        await bus.publish(original, wait=True)
        foreign = sqlite3.connect(path, isolation_level=None)
        try:
            foreign.execute("BEGIN IMMEDIATE")  # the writer cannot commit: it retries
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: bus.publish(duplicate, wait=True))
                await anyio.wait_all_tasks_blocked()  # it waits for its acknowledgement
                assert bus.published == 2
                tg.cancel_scope.cancel()  # the waiter gives up before the commit
            foreign.execute("ROLLBACK")
        finally:
            foreign.close()
        with anyio.fail_after(10), pytest.raises(NotStored) as refused:
            await bus.flush()
        await bus.flush()  # reported once
    assert refused.value.seq == 2
    assert rows(path, "SELECT count(*) FROM dead_letters") == [(1,)]


# ----------------------------------------------------------------- bugs, not data


def _failing_handler(error: Exception) -> Any:
    def handler(events: Sequence[Any]) -> list[Any]:
        raise error

    return handler


def _with_handler(spec: DatabaseSpec, event_type: type[Any], handler: Any) -> DatabaseSpec:
    return dataclasses.replace(spec, handlers={**spec.handlers, event_type: handler})


_BAD_SQL = "INSERT INTO trade_executions (no_such_column) VALUES (?)"


@pytest.mark.parametrize(
    ("handler", "named"),
    [
        (_failing_handler(TypeError("unsupported operand")), "TypeError: unsupported operand"),
        (_failing_handler(KeyError("ticket")), "KeyError: 'ticket'"),
        (_failing_handler(AttributeError("no ticket")), "AttributeError: no ticket"),
        (lambda events: [("trade_executions", _BAD_SQL, [(1,) for _ in events])], "no_such"),
    ],
    ids=["TypeError", "KeyError", "AttributeError", "no-such-column"],
)
async def test_a_bug_in_the_writer_stops_it_instead_of_dead_lettering(
    tmp_path: Path, handler: Any, named: str
) -> None:
    path = tmp_path / _MAIN
    spec = _with_handler(MAIN, TradeExecution, handler)
    async with bus_and_writer(spec, path, max_delay=3600.0, max_batch=101) as (bus, writer):
        for n in range(100):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10), pytest.raises(BusClosed) as refused:
            await bus.publish(execution(1), wait=True)  # the 101st: the batch is cut
        await writer.stopped.wait()
        with pytest.raises(BusClosed) as flushed:
            await bus.flush()
    assert refused.value.__cause__ is writer.error
    assert flushed.value.__cause__ is writer.error
    assert isinstance(writer.error, WriterError)
    assert named in str(writer.error)
    assert "failed on a bug" in str(writer.error) or "cannot write" in str(writer.error)
    assert rows(path, "SELECT count(*) FROM unified_ticks") == [(0,)]  # nothing of it
    assert rows(path, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_a_trigger_that_aborts_is_the_datas_fault_and_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / _MAIN
    async with bus_and_writer(MAIN, path) as (bus, _writer):
        await bus.publish(execution(1), wait=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_replay BEFORE INSERT ON trade_executions "
            "WHEN NEW.ticket = 2 BEGIN SELECT RAISE(ABORT, 'ticket 2 conflicts'); END"
        )
        conn.commit()
    async with bus_and_writer(MAIN, path) as (bus, writer):
        with anyio.fail_after(10), pytest.raises(NotStored, match="ticket 2 conflicts"):
            await bus.publish(execution(2), wait=True)
        await bus.publish(execution(3), wait=True)
    assert writer.error is None
    assert rows(path, "SELECT ticket FROM trade_executions ORDER BY ticket") == [(1,), (3,)]


# ---------------------------------------------------------------- a dead writer


async def test_a_flush_after_the_writer_died_raises_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / _MAIN
    async with bus_and_writer(MAIN, path, max_delay=3600.0, max_batch=1_000) as (bus, writer):
        for n in range(1_000):  # a full batch: committed at once
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
        acknowledged = bus.published
        os.unlink(path)
        waiting: list[BaseException] = []

        async def flush_while_it_dies() -> None:
            try:
                await bus.flush()
            except BusClosed as exc:
                waiting.append(exc)

        # No await since the unlink: the writer has not looked at its files yet. It
        # finds the file gone at its next look (a full batch, or its idle watch).
        for n in range(1_000):
            bus.publish_nowait(tick(n))
        async with anyio.create_task_group() as tg:
            tg.start_soon(flush_while_it_dies)
            with anyio.fail_after(10):
                await writer.stopped.wait()
        assert isinstance(writer.error, WriterError)
        for attempt in (bus.flush, lambda: bus.publish(tick(0), wait=True)):
            with pytest.raises(BusClosed) as refused:
                await attempt()
            assert refused.value.__cause__ is writer.error
        with pytest.raises(BusClosed) as refused:
            bus.publish_nowait(tick(1))
        assert refused.value.__cause__ is writer.error
        await bus.flush(acknowledged)  # what was acknowledged before still counts
    [flushed] = waiting
    assert flushed.__cause__ is writer.error
    assert "vanished" in str(flushed)


async def test_a_node_whose_writer_failed_refuses_with_its_error(tmp_path: Path) -> None:
    spec = _with_handler(MAIN, TradeExecution, _failing_handler(KeyError("ticket")))
    topology = Topology({"chatgpt_bot": spec, "desktop_agent": ANALYSIS, "api_server": LOGS})
    node = open_node(tmp_path, topology=topology)
    with anyio.fail_after(10), pytest.raises(WriterError, match="KeyError") as failed:
        async with node:
            await node.bus.publish(execution(1), wait=True)
    api = node.integration("chatgpt_bot")
    for attempt in (
        node.bus.flush,
        lambda: node.bus.publish(tick(0), wait=True),
        lambda: api.log_trade_execution(
            ticket=2, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        ),
    ):
        with pytest.raises(BusClosed) as refused:
            await attempt()
        assert refused.value.__cause__ is failed.value
    with pytest.raises(BusClosed) as refused:
        node.check_route(execution(3))
    assert refused.value.__cause__ is failed.value


# ---------------------------------------------------------- a node not started


async def test_a_node_used_without_async_with_says_it_is_not_started(tmp_path: Path) -> None:
    node = open_node(tmp_path)
    api = node.integration("chatgpt_bot")
    for attempt in (
        lambda: node.bus.publish(execution(1), wait=True),
        lambda: api.log_trade_execution(
            ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        ),
    ):
        with pytest.raises(TradebusError, match="the node is not started: use `async with"):
            await attempt()
    with pytest.raises(TradebusError) as refused:
        node.bus.publish_nowait(tick(1))
    assert not isinstance(refused.value, NoRoute)
    async with node:
        await api.log_trade_execution(
            ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        )
    with pytest.raises(TradebusError, match="the node is closed"):
        await api.log_trade_execution(
            ticket=2, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        )
    with read_only(tmp_path / _MAIN) as conn:
        assert conn.execute("SELECT ticket FROM trade_executions").fetchall() == [(1,)]


@pytest.mark.parametrize("flow", ["busy", "idle"])
async def test_a_crash_right_after_the_writer_noticed_a_deleted_wal_loses_nothing_acknowledged(
    tmp_path: Path, flow: str
) -> None:
    # idle: the -wal is deleted once the events stopped; the writer watches its files
    # while idle too, and saves what the deleted WAL holds before the crash.
    path = tmp_path / _MAIN
    log = tmp_path / "acknowledged.log"
    with anyio.fail_after(90):
        process = await anyio.run_process(
            [*script("wal_worker.py"), str(path), str(log), *(["idle"] if flow == "idle" else [])],
            check=False,
            stderr=None,
        )
    assert process.returncode == -signal.SIGKILL  # it noticed, and crashed right then
    acknowledged = {int(line) for line in log.read_text().split("\n")[:-1]}
    assert len(acknowledged) >= 50
    stored = {ticket for (ticket,) in rows(path, "SELECT ticket FROM trade_executions")}
    assert acknowledged <= stored
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


async def test_encoded_events_on_a_node_are_routed_by_what_they_are(tmp_path: Path) -> None:
    # Bytes from elsewhere: the topic a caller names must be the event's own, and bytes
    # that are no valid event are refused at the call, never acknowledged.
    alert = schemas.TradeAlert(alert_type="risk", severity="critical", message="encoded")
    trade = execution(3)
    async with open_node(tmp_path) as node:
        with pytest.raises(EventBusError, match="its own topic is"):
            await node.bus.publish_encoded(schemas.encode(alert), "nowhere.topic", wait=True)
        with pytest.raises(EventBusError, match="its own topic is"):
            await node.bus.publish_encoded(
                schemas.encode(trade), "trade.position.BTCUSDT", wait=True
            )
        with pytest.raises(schemas.InvalidEvent, match="malformed"):
            node.bus.publish_encoded_nowait(b"\x93garbage", alert.topic)
        assert node.bus.published == 0
        await node.bus.publish_encoded(schemas.encode(alert), alert.topic, wait=True)
        await node.bus.publish_encoded(schemas.encode(trade), trade.topic, wait=True)
    assert rows(tmp_path / LOGS.filename, "SELECT message FROM trade_alerts") == [("encoded",)]
    assert rows(tmp_path / MAIN.filename, "SELECT ticket FROM trade_executions") == [(3,)]


async def test_a_stop_while_a_bisected_batch_retries_stores_each_event_once(
    tmp_path: Path,
) -> None:
    # A batch holding one undecodable event is bisected: its first half commits. Then
    # the dead letter's insert meets a lock held by a foreign connection and retries;
    # the writer is stopped during that retry. Its drain must commit what is left, not
    # the first half again (ticks have no event_id: they would be stored twice).
    path = tmp_path / _MAIN
    alert = schemas.TradeAlert(alert_type="risk", severity="critical", message="not main's")
    writers_log = logging.getLogger("writers")
    async with bus_and_writer(MAIN, path, max_batch=21, max_delay=3600.0, busy_timeout=0.05) as (
        bus,
        writer,
    ):
        foreign = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        held = stopped = False

        class Interfere(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                nonlocal held, stopped
                message = record.getMessage()
                if "moved to dead_letters" in message and not held:
                    foreign.execute("BEGIN IMMEDIATE")  # the dead letter's insert waits
                    held = True
                elif "retrying in" in message and held and not stopped:
                    writer.actor.stop()  # during the retry's back-off
                    foreign.execute("ROLLBACK")  # the drain may commit
                    stopped = True

        handler = Interfere(logging.WARNING)
        writers_log.addHandler(handler)
        try:
            for n in range(10):
                bus.publish_nowait(tick(n))
            # Another database's event, arriving encoded on main's topic: poison.
            bus.publish_encoded_nowait(schemas.encode(alert), "trade.execution.BTCUSDT")
            for n in range(10, 20):
                bus.publish_nowait(tick(n))
            with anyio.fail_after(20):
                await writer.stopped.wait()
        finally:
            writers_log.removeHandler(handler)
            foreign.close()
        assert stopped, "the interference never happened: the test proves nothing"
        assert writer.error is None
    assert rows(path, "SELECT count(*), count(DISTINCT ts) FROM unified_ticks") == [(20, 20)]
    assert rows(path, "SELECT count(*) FROM dead_letters") == [(1,)]
