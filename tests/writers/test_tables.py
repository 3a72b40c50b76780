"""Where the writers store what they are sent: every event type in typed columns of
its table (columns the schema guards, every field), every tick kept with its own values
(repeats, large mixed batches, statements sized to the variable limit), a candle
updated in place by newer versions of its bar."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Literal

import anyio
import msgspec
import pytest

import schemas
from eventbus import EventBus
from schemas import Candle, Tick
from tests.schemas._samples import sample_events
from writers import MAIN, SPECS, WriterActor, create_database
from writers._sqlite_integrity import EVENT_COLUMNS
from writers._sqlite_plan import prepare_tick_statements, tick_statements

from ._helpers import TABLES, count, execution, query, running_writer, tick


@pytest.mark.parametrize("arrival", ["published here", "arriving encoded"])
async def test_every_event_type_is_stored_in_typed_columns_of_its_table(
    tmp_path: Path, arrival: str
) -> None:
    events = sample_events()
    assert {type(event) for event in events} == set(TABLES)
    # A bus without a decoder: the writers decode what arrives encoded themselves,
    # even after another subscriber had the bus decode it (into plain lists).
    async with EventBus(admit=schemas.admit) as bus, anyio.create_task_group() as tg:
        actors = [WriterActor(bus, spec, tmp_path / spec.filename) for spec in SPECS]
        for actor in actors:
            await tg.start(actor.run)
        watcher = bus.subscribe(">")
        for event in events:
            if arrival == "published here":
                bus.publish_nowait(event)
            else:
                bus.publish_encoded_nowait(schemas.encode(event), event.topic)
        seen = [message.event for message in watcher.receive_batch_nowait(100)]
        assert seen == events if arrival == "published here" else len(seen) == len(events)
        watcher.close()
        await bus.flush()
        for actor in actors:
            actor.stop()
    for event in events:
        filename, table = TABLES[type(event)]
        fields = msgspec.structs.asdict(event)
        [row] = query(tmp_path / filename, f"SELECT {', '.join(fields)} FROM {table}")
        stored = dict(zip(fields, row, strict=True))
        for name, value in fields.items():
            if isinstance(value, dict | list):  # JSON columns hold JSON text
                stored[name] = json.loads(stored[name])
        assert stored == fields, table
    for spec in SPECS:
        assert count(tmp_path / spec.filename, "dead_letters") == 0


async def test_ticks_repeating_symbol_and_time_are_all_kept_across_restarts(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    same = tick(ts=1_700_000_000_000_000_000)
    async with running_writer(path, MAIN) as (bus, _):
        for _ in range(3):
            bus.publish_nowait(same)
        await bus.flush()
    # A new writer continues the tick sequence instead of colliding with stored rows.
    async with running_writer(path, MAIN) as (bus, _):
        for _ in range(2):
            bus.publish_nowait(same)
        await bus.flush()
    assert query(path, "SELECT count(*), count(DISTINCT seq) FROM unified_ticks") == [(5, 5)]


async def test_every_tick_of_a_large_mixed_batch_lands_with_its_own_values(
    tmp_path: Path,
) -> None:
    # 3,001 ticks in one batch: full multi-row chunks, every power-of-two remainder,
    # other events in between, and ticks that arrive encoded from elsewhere.
    path = tmp_path / MAIN.filename
    ticks = [
        Tick(symbol=f"S{n % 7}", bid=1.0 + n, ask=1.5 + n, last=None if n % 2 else 1.25 + n,
             volume=float(n % 5), source=f"feed{n % 3}", ts=1_000 + n // 3)
        for n in range(3_001)
    ]  # fmt: skip
    async with running_writer(path, MAIN, max_batch=10_000, max_delay=0.5) as (bus, actor):
        for n, t in enumerate(ticks):
            if n % 10 == 3:
                bus.publish_encoded_nowait(schemas.encode(t), t.topic)
            else:
                bus.publish_nowait(t)
            if n % 1_000 == 500:
                bus.publish_nowait(execution(n))
        await bus.flush()
        assert actor.statistics().batches == 1
    stored = query(
        path, "SELECT seq, symbol, bid, ask, last, volume, source, ts FROM unified_ticks"
    )
    # Each tick has its own values and its own seq: its place in the publish order.
    assert {row[0]: row[1:] for row in stored} == {
        n + 1: (t.symbol, t.bid, t.ask, t.last, t.volume, t.source, t.ts)
        for n, t in enumerate(ticks)
    }
    assert count(path, "trade_executions") == 3
    assert count(path, "dead_letters") == 0


async def test_a_candle_is_updated_in_place_by_newer_versions_of_its_bar(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename

    def bar(close: float, ts: int, timeframe: Literal["M1", "M5"] = "M5") -> Candle:
        return Candle(symbol="BTCUSDT", timeframe=timeframe, ts_open=0, open=1.0, high=3.0,
                      low=0.5, close=close, ts=ts)  # fmt: skip

    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(bar(1.5, ts=10))
        bus.publish_nowait(bar(2.5, ts=30))
        bus.publish_nowait(bar(1.0, ts=20))  # late: an older version of the bar
        bus.publish_nowait(bar(2.0, ts=30, timeframe="M1"))
        await bus.flush()
    assert query(path, "SELECT timeframe, close, ts FROM candles ORDER BY timeframe") == [
        ("M1", 2.0, 30),
        ("M5", 2.5, 30),
    ]
    assert query(path, "SELECT symbol, close FROM m5_candles") == [("BTCUSDT", 2.5)]


async def test_a_lower_variable_limit_gives_smaller_tick_statements_that_store_every_tick(
    tmp_path: Path,
) -> None:
    # SQLite builds older than 3.32 allow 999 bound variables (3.32+: 32,766).
    path = tmp_path / MAIN.filename
    await create_database(MAIN, path)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        chunk = prepare_tick_statements(raw, "unified_ticks")
        assert chunk == 128  # 1 + 128 * 7 parameters <= 999 < 1 + 256 * 7
        ticks = [tick(n) for n in range(1_000)]
        statements = tick_statements("unified_ticks", ticks, 1, chunk)
        raw.execute("BEGIN IMMEDIATE")
        for _table, sql, rows in statements:
            raw.executemany(sql, rows)
        raw.execute("COMMIT")
    finally:
        raw.close()
    assert query(path, "SELECT seq, bid FROM unified_ticks ORDER BY seq") == [
        (n + 1, t.bid) for n, t in enumerate(ticks)
    ]


def test_the_guarded_columns_cover_every_field_of_the_events() -> None:
    # A field added to an event needs a migration that guards its column too.
    for event_type, (_filename, table) in TABLES.items():
        if table in EVENT_COLUMNS:
            fields = set(event_type.__struct_fields__) - {"event_id"}
            assert set(EVENT_COLUMNS[table]) == fields, table
