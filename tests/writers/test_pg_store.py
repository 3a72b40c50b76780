"""The PostgreSQL store, on a real server: the same events give the same rows as
SQLite's store (compared row by row, every table), replays are no-ops, what cannot
be stored goes to dead_letters, relays' cursors commit with their events, the schema
is made and kept, one writer per database."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import schemas
from eventbus import EventBus, Headers, NotStored
from schemas import (
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    OcoGroup,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
)
from tests.schemas._samples import sample, sample_events
from tests.writers._helpers import execution, position_update, query, recommendation, tick
from tests.writers._pg import NewDatabase, pg_count, pg_rows
from writers import (
    ANALYSIS,
    LOGS,
    MAIN,
    DatabaseSpec,
    PostgresWriter,
    SchemaVersionError,
    WriterActor,
    WriterError,
    WriterLockError,
)
from writers._tables import TABLES

_replace = msgspec.structs.replace
SPECS = (MAIN, ANALYSIS, LOGS)
#: Columns that say when a row was written (not what it holds).
_WHEN = {"dead_letters": "ts", "relay_cursors": "ts"}


def _main_events() -> list[Any]:
    """Every rule of the main database: ticks (repeated times too), candles (an older
    one loses), the import ledger, executions and updates in and out of order,
    replays, refusals, a close after a close, the monitor's tables."""
    events: list[Any] = [
        tick(n, symbol=("EURUSD", "BTCUSDT")[n % 2], ts=1_000 + n // 3) for n in range(200)
    ]
    events.append(Tick(symbol="EURUSD", bid=1.0, ask=1.1, last=1.05, volume=2.5, source="x", ts=5))
    candle = Candle(
        symbol="EURUSD", timeframe="M5", ts_open=0, open=1.0, high=1.2, low=0.9, close=1.1,
        ts=20, complete=False,
    )  # fmt: skip
    events += [
        candle,
        _replace(candle, ts=10, close=9.9),
        _replace(candle, ts=30, revision=2, complete=True),
    ]
    imported = sample(TickImport)
    events += [imported, _replace(imported, position=99, status="complete")]
    first = execution(1, ts=100)
    early = position_update(2, ts=90, current_price=50_100.0, volume=0.5)
    events += [first, early, execution(2, ts=95), first]  # a replay: a no-op
    events.append(_replace(first, entry_price=1.0))  # its event_id, other content: refused
    events.append(execution(1, ts=101))  # another execution on ticket 1: refused
    later = position_update(1, ts=200, current_price=50_500.0, stop_loss=49_900.0)
    earlier = position_update(1, ts=150, current_price=50_200.0, take_profit=52_000.0)
    events += [later, earlier]  # arrive out of event_id order
    close = position_update(
        1, ts=300, current_price=51_000.0, status="closed", realized_pnl=10.0, close_price=51_000.0
    )
    events += [close, position_update(1, ts=301, current_price=1.0, status="closed")]  # closes once
    events.append(position_update(1, ts=302, current_price=2.0))  # after the close: no change
    rule, oco, mark = sample(ExitRule), sample(OcoGroup), sample(MonitorMark)
    events += [rule, oco, mark, rule, _replace(mark, level=1.0)]
    return events


def _analysis_events() -> list[Any]:
    rec = recommendation("rec-a")
    executed = RecommendationUpdate(recommendation_id="rec-a", status="executed", ticket=7, ts=110)
    events: list[Any] = [executed, rec]  # its update first: the recommendation catches up
    events.append(
        RecommendationUpdate(recommendation_id="rec-a", status="pending", ts=120)
    )  # earlier stage
    closed = RecommendationUpdate(
        recommendation_id="rec-a", status="closed", outcome="win", realized_pnl=5.0, ts=130
    )
    events += [
        closed,
        RecommendationUpdate(recommendation_id="rec-a", status="closed", outcome="loss", ts=131),
    ]
    events += [rec, _replace(rec, confidence=1.0), recommendation("rec-b"), recommendation("rec-a")]
    events += [
        e for e in sample_events() if type(e).__name__ in ("TradeAnalysis", "AnalysisResult")
    ]
    return events


def _logs_events() -> list[Any]:
    events: list[Any] = [e for e in sample_events() if type(e).__name__ in (
        "TradeMonitoring", "TradeAlert", "ApiLog", "SystemHealth")]  # fmt: skip
    alert = sample(TradeAlert)
    events += [alert, alert, _replace(alert, message="other"), sample(SystemHealth)]
    return events


async def _publish(bus: EventBus, events: Sequence[Any], *, relayed: bool = False) -> None:
    """Publish ``events`` in order (as a relay would, with cursors, if ``relayed``),
    and a group, hostile bytes; wait for every writer."""
    for n, event in enumerate(events, 1):
        headers = Headers(origin="outbox.db#7", cursor=n) if relayed else None
        await bus.publish(event, headers=headers)
    with contextlib.suppress(NotStored):
        await bus.flush()


async def _rows(
    spec: DatabaseSpec, sqlite: Path, dsn: str
) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per table of ``spec`` (and relay_cursors): its rows in SQLite and in PostgreSQL,
    in key order, without the columns that say when they were written."""
    found = {}
    for name in (*spec.tables, "relay_cursors"):
        table = TABLES[name]
        columns = [c.name for c in table.columns if c.name != _WHEN.get(name)]
        order = ", ".join(table.primary_key)
        sql = f"SELECT {', '.join(columns)} FROM {name} ORDER BY {order}"
        lite = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in query(sqlite, sql)
        ]
        found[name] = (lite, await pg_rows(dsn, sql))
    return found


async def test_every_event_type_gives_the_rows_sqlite_gives(
    tmp_path: Path, pg_database: NewDatabase
) -> None:
    dsns = {spec.name: await pg_database() for spec in SPECS}
    async with EventBus() as bus, contextlib.AsyncExitStack() as stack:
        for spec in SPECS:
            await stack.enter_async_context(
                WriterActor(bus, spec, tmp_path / spec.filename, max_batch=7)
            )
            await stack.enter_async_context(PostgresWriter(bus, spec, dsns[spec.name], max_batch=5))
        await _publish(bus, _main_events() + _analysis_events() + _logs_events())
        # Groups (all or nothing), one with a refused member; bytes that are no event.
        group = [execution(3, ts=400), position_update(3, ts=401, current_price=1.0)]
        await bus.publish_many(group)
        bad = [execution(4, ts=500), _replace(group[0], volume=9.0)]
        with contextlib.suppress(NotStored):
            await bus.publish_many(bad, wait=True)
        with contextlib.suppress(NotStored):
            await bus.publish_encoded(b"\x93garbage", "trade.execution.BTCUSDT", wait=True)
        await _publish(bus, [tick(n, ts=9_000) for n in range(30)], relayed=True)
    stored = 0
    for spec in SPECS:
        for table, (lite, pg) in (
            await _rows(spec, tmp_path / spec.filename, dsns[spec.name])
        ).items():
            assert pg == lite, f"{spec.name}.{table} differs"
            stored += len(pg)
    main = dsns["main"]
    # The test exercises what it claims: refusals, replays skipped, positions, cursors.
    assert await pg_count(main, "dead_letters") >= 6
    assert await pg_rows(
        main, "SELECT status, realized_pnl FROM trade_positions WHERE ticket = 1"
    ) == [("closed", 10.0)]
    assert await pg_rows(main, "SELECT cursor, events FROM relay_cursors") == [(30, 30)]
    assert await pg_rows(
        dsns["analysis"],
        "SELECT status, ticket FROM trade_recommendations WHERE recommendation_id = 'rec-a'",
    ) == [("closed", 7)]
    assert stored > 250


async def test_replays_are_no_ops_and_ticks_from_a_relay_are_stored_once(
    pg_database: NewDatabase,
) -> None:
    dsn = await pg_database()
    events = [execution(10, ts=1), *(tick(n) for n in range(50))]
    async with EventBus(admit=schemas.admit) as bus:
        for _ in range(2):
            async with PostgresWriter(bus, MAIN, dsn):
                # A relay delivers the same positions again (it resumed behind its cursor).
                await _publish(bus, events, relayed=True)
    assert await pg_count(dsn, "unified_ticks") == 100  # ticks are events without ids...
    assert await pg_count(dsn, "trade_executions") == 1
    assert await pg_count(dsn, "dead_letters") == 0
    assert await pg_rows(dsn, "SELECT source, cursor, events FROM relay_cursors") == [
        ("outbox.db#7", 51, 102)
    ]


async def test_a_relays_cursor_reads_back_and_never_goes_back(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    async with EventBus(admit=schemas.admit) as bus, PostgresWriter(bus, MAIN, dsn) as writer:
        assert await writer.cursor_of("a#1") == 0
        await bus.publish(tick(1), headers=Headers(origin="a#1", cursor=40), wait=True)
        await bus.publish(tick(2), headers=Headers(origin="a#1", cursor=12), wait=True)
        await bus.publish(tick(3), headers=Headers(origin="b#2", cursor=5), wait=True)
        assert await writer.cursor_of("a#1") == 40
        assert await writer.cursor_of("b#2") == 5
    cursors = await pg_rows(dsn, "SELECT source, cursor, events FROM relay_cursors ORDER BY 1")
    assert cursors == [("a#1", 40, 2), ("b#2", 5, 1)]


async def test_an_atomic_group_is_stored_whole_or_refused_whole(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    async with EventBus(admit=schemas.admit) as bus, PostgresWriter(bus, MAIN, dsn):
        first = execution(20)
        await bus.publish(first, wait=True)
        group = [tick(1), execution(21), _replace(first, volume=5.0)]  # the last is refused
        with pytest.raises(NotStored):
            await bus.publish_many(group, wait=True)
        await bus.publish_many([tick(2), execution(22)], wait=True)
    assert await pg_rows(dsn, "SELECT ticket FROM trade_executions ORDER BY ticket") == [
        (20,),
        (22,),
    ]
    assert await pg_count(dsn, "unified_ticks") == 1
    assert await pg_count(dsn, "dead_letters") == 3
    errors = [e for (e,) in await pg_rows(dsn, "SELECT error FROM dead_letters ORDER BY seq")]
    assert all("group of 3 events" in e for e in errors[:2])
    assert errors[2].startswith("IntegrityError: trade_executions: an event with this event_id")
    assert "another volume" in errors[2]


async def test_bad_data_goes_to_dead_letters_and_the_rest_is_stored(
    pg_database: NewDatabase,
) -> None:
    dsn = await pg_database()
    async with EventBus() as bus, PostgresWriter(bus, MAIN, dsn, max_batch=100):
        bad = [
            Tick(symbol="NUL\x00", bid=1.0, ask=1.1, ts=1),  # PostgreSQL's text takes no NUL
            Tick(symbol="BIG", bid=1.0, ask=1.1, ts=2**64),  # beyond a BIGINT
            _replace(execution(30), ticket=2**70),
        ]
        events: list[Event] = [tick(1), *bad, tick(2)]
        for event in events:
            await bus.publish(event)
        await bus.publish_encoded(b"not msgpack", "market.tick.BTCUSDT")
        with contextlib.suppress(NotStored):
            await bus.flush()
    assert await pg_rows(dsn, "SELECT bid FROM unified_ticks ORDER BY seq") == [
        (50_001.0,),
        (50_002.0,),
    ]
    letters = await pg_rows(dsn, "SELECT event_type, error FROM dead_letters ORDER BY id")
    assert [t for t, _ in letters] == ["Tick", "Tick", "TradeExecution", "event"]
    assert all(error for _, error in letters)


async def test_the_schema_is_made_once_and_a_newer_one_is_refused(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    async with EventBus(admit=schemas.admit) as bus:
        async with PostgresWriter(bus, MAIN, dsn):
            await bus.publish(tick(1), wait=True)
        async with PostgresWriter(bus, MAIN, dsn):  # opened again: nothing to migrate
            await bus.publish(tick(2), wait=True)
    assert await pg_rows(dsn, "SELECT database, version FROM tradebus_schema") == [
        ("main", MAIN.schema_version)
    ]
    assert await pg_rows(dsn, "SELECT seq FROM unified_ticks ORDER BY seq") == [(1,), (2,)]
    conn_rows = await pg_rows(dsn, "UPDATE tradebus_schema SET version = 99 RETURNING version")
    assert conn_rows == [(99,)]
    async with EventBus() as bus:
        with pytest.raises(SchemaVersionError, match="schema version 99, newer"):
            async with PostgresWriter(bus, MAIN, dsn):
                pass
        await pg_rows(dsn, "UPDATE tradebus_schema SET version = 5")
        with pytest.raises(WriterError, match="'main' database's tables, not 'logs'"):
            async with PostgresWriter(bus, LOGS, dsn):
                pass


async def test_a_second_writer_of_the_database_is_refused(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    async with EventBus() as bus, PostgresWriter(bus, MAIN, dsn):
        with pytest.raises(WriterLockError, match="already has a writer: the PostgreSQL session"):
            async with PostgresWriter(bus, MAIN, dsn):
                pass
    async with EventBus() as bus, PostgresWriter(bus, MAIN, dsn):  # free again once it stopped
        pass


async def test_a_server_that_cannot_be_reached_is_a_clear_error(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    unreachable = dsn.replace(dsn.split("@")[1].split("/")[0], "127.0.0.1:9")
    async with EventBus() as bus:
        with pytest.raises(WriterError, match="cannot connect to postgresql://"):
            async with PostgresWriter(bus, MAIN, unreachable, connect_timeout=2.0):
                pass
    with pytest.raises(ValueError, match="dsn must be a PostgreSQL URL"):
        PostgresWriter(EventBus(), MAIN, "sqlite:///x.db")


async def test_an_idle_writer_keeps_working_after_its_server_restarts_cleanly(
    pg_database: NewDatabase,
) -> None:
    """A connection closed between transactions: the next batch reconnects."""
    dsn = await pg_database()
    async with EventBus() as bus, PostgresWriter(bus, MAIN, dsn, max_backoff=0.2) as writer:
        await bus.publish(tick(1), wait=True)
        [(pid,)] = await pg_rows(
            dsn, "SELECT pid FROM pg_stat_activity WHERE application_name = 'tradebus writer main'"
        )
        await pg_rows(dsn, "SELECT pg_terminate_backend($1)", pid)
        with anyio.fail_after(20):
            await bus.publish(tick(2), wait=True)
        assert writer.statistics().retries >= 0
    assert await pg_rows(dsn, "SELECT seq, bid FROM unified_ticks ORDER BY seq") == [
        (1, 50_001.0),
        (2, 50_002.0),
    ]


async def test_a_database_holding_other_tables_is_refused(pg_database: NewDatabase) -> None:
    dsn = await pg_database()
    await pg_rows(dsn, "CREATE TABLE unified_ticks (x int)")
    async with EventBus() as bus:
        with pytest.raises(WriterError, match=r"cannot bring the schema of .* up to date"):
            async with PostgresWriter(bus, MAIN, dsn):
                pass
    assert await pg_rows(dsn, "SELECT count(*) FROM unified_ticks") == [(0,)]  # untouched


async def test_back_to_back_transactions_store_everything_once_and_leave_none_open(
    pg_database: NewDatabase,
) -> None:
    """A busy writer begins each queued transaction with the COMMIT before it: a
    refused batch among them, and reads between them, change nothing of what is
    stored; once idle, its session holds no open transaction."""
    dsn = await pg_database()
    async with EventBus() as bus, PostgresWriter(bus, MAIN, dsn, max_batch=50) as writer:
        for n in range(1, 2001):
            bus.publish_nowait(tick(n))
            if n == 1010:
                bus.publish_nowait(Tick(symbol="NUL\x00", bid=1.0, ask=1.1, ts=n))
            if n % 400 == 0:
                assert await writer.cursor_of("nobody") == 0
        with contextlib.suppress(NotStored):
            await bus.flush()
        await anyio.sleep(0.1)
        session = "SELECT state FROM pg_stat_activity WHERE application_name = $1"
        states = await pg_rows(dsn, session, "tradebus writer main")
        assert states == [("idle",)]
        stats = writer.statistics()
    stored = "SELECT count(*), count(DISTINCT bid), max(seq) FROM unified_ticks"
    assert await pg_rows(dsn, stored) == [(2000, 2000, 2000)]
    assert [t for (t,) in await pg_rows(dsn, "SELECT event_type FROM dead_letters")] == ["Tick"]
    state = dict(await pg_rows(dsn, "SELECT key, value FROM writer_state"))
    assert state["tick_seq"] == 2001
    assert state["commits"] >= stats.batches >= 2000 // 50
