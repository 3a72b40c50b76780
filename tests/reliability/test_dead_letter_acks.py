"""Dead-lettered events are not acknowledged as stored.

A ``publish(wait=True)``, ``flush()`` or ``log_*`` call that returns promises that
its events are in their database. An event the writer refuses for its data (a
conflict, an aborting trigger, an undecodable event) goes to dead_letters, and whoever
waits for it, a publish, a log call or a later flush, is told NotStored; the rest of
its batch is stored once.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import Direction, TradeRecommendation
from tradebus import TradeIntegration, open_node
from writers import ANALYSIS, MAIN

from ._helpers import bus_and_writer, execution, rows, tick, wait_until

_MAIN = MAIN.filename


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
