"""What the writers store: typed rows, idempotent events, kept ticks, positions, ..."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Literal

import anyio
import msgspec
import pytest

import schemas
from eventbus import EventBus, NotStored
from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    OcoGroup,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
    new_event_id,
)
from tests.schemas._samples import sample_events
from writers import ANALYSIS, LOGS, MAIN, SPECS, WriterActor, create_database
from writers._sqlite_integrity import EVENT_COLUMNS
from writers._sqlite_plan import prepare_tick_statements, tick_statements

from ._helpers import (
    count,
    execution,
    position_update,
    query,
    recommendation,
    running_writer,
    tick,
)

# Where each event type is stored, in columns named as its fields.
TABLES: dict[type[Event], tuple[str, str]] = {
    Tick: (MAIN.filename, "unified_ticks"),
    Candle: (MAIN.filename, "candles"),
    TradeExecution: (MAIN.filename, "trade_executions"),
    PositionUpdate: (MAIN.filename, "position_updates"),
    TradeRecommendation: (ANALYSIS.filename, "trade_recommendations"),
    RecommendationUpdate: (ANALYSIS.filename, "recommendation_updates"),
    TradeAnalysis: (ANALYSIS.filename, "trade_analysis"),
    AnalysisResult: (ANALYSIS.filename, "analysis_results"),
    TradeMonitoring: (LOGS.filename, "trade_monitoring"),
    TradeAlert: (LOGS.filename, "trade_alerts"),
    ApiLog: (LOGS.filename, "api_logs"),
    SystemHealth: (LOGS.filename, "system_health"),
    TickImport: (MAIN.filename, "tick_imports"),
    ExitRule: (MAIN.filename, "exit_rules"),
    OcoGroup: (MAIN.filename, "oco_groups"),
    MonitorMark: (MAIN.filename, "monitor_marks"),
}


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


async def test_an_execution_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    event = execution(12345)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(event)
        bus.publish_nowait(event)  # in the same batch
        await bus.flush()
        bus.publish_nowait(event)  # replayed later, in another batch
        await bus.flush()
    assert query(path, "SELECT ticket, event_id FROM trade_executions") == [(12345, event.event_id)]
    assert count(path, "trade_positions") == 1
    assert count(path, "dead_letters") == 0  # the replays were no errors either


async def test_a_recommendation_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(rec)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(path, "SELECT recommendation_id, event_id FROM trade_recommendations") == [
        (rec.recommendation_id, rec.event_id)
    ]
    assert count(path, "dead_letters") == 0


async def test_an_alert_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / LOGS.filename
    alert = TradeAlert(alert_type="risk", severity="critical", message="drawdown 5%")
    async with running_writer(path, LOGS) as (bus, _):
        bus.publish_nowait(alert)
        await bus.flush()
    async with running_writer(path, LOGS) as (bus, _):  # a replay after a restart
        bus.publish_nowait(alert)
        bus.publish_nowait(alert)
        await bus.flush()
    assert query(path, "SELECT message, event_id FROM trade_alerts") == [
        ("drawdown 5%", alert.event_id)
    ]
    assert count(path, "dead_letters") == 0


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


async def test_an_execution_opens_its_position(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100, entry_price=50_000.0))
        await bus.flush()
    assert query(
        path,
        "SELECT ticket, direction, status, entry_price, current_price, volume, stop_loss, "
        "take_profit, opened_ts, closed_ts FROM trade_positions",
    ) == [(1, "BUY", "open", 50_000.0, 50_000.0, 0.01, 49_500.0, 51_000.0, 100, None)]


async def test_a_position_has_one_row_and_every_update_in_its_history(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        for n in range(1, 4):
            bus.publish_nowait(position_update(1, ts=100 + n, current_price=50_000.0 + n))
        await bus.flush()
    assert query(path, "SELECT ticket, status, current_price, ts FROM trade_positions") == [
        (1, "modified", 50_003.0, 103)
    ]
    assert count(path, "position_updates") == 3


async def test_an_update_with_a_smaller_event_id_never_overwrites_a_newer_one(
    tmp_path: Path,
) -> None:
    # Delivered late (out of order, or replayed): made earlier, whatever its ts says.
    path = tmp_path / MAIN.filename
    earlier, later = new_event_id(), new_event_id()
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        bus.publish_nowait(
            position_update(1, ts=200, current_price=50_300.0, stop_loss=50_100.0, event_id=later)
        )
        await bus.flush()
        bus.publish_nowait(
            position_update(1, ts=300, current_price=50_200.0, stop_loss=49_900.0, event_id=earlier)
        )
        await bus.flush()
    assert query(path, "SELECT current_price, stop_loss, ts, event_id FROM trade_positions") == [
        (50_300.0, 50_100.0, 200, later)
    ]
    assert count(path, "position_updates") == 2
    assert count(path, "dead_letters") == 0


async def test_position_updates_resolve_to_the_larger_event_id_in_any_arrival_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    ids = {ticket: (new_event_id(), new_event_id()) for ticket in (1, 2)}
    async with running_writer(path, MAIN) as (bus, _):
        # Ticket 1 gets the larger id first, ticket 2 last: both must end on it.
        for ticket, (smaller, larger) in ids.items():
            bus.publish_nowait(execution(ticket, ts=100))
            order = (larger, smaller) if ticket == 1 else (smaller, larger)
            for event_id in order:
                price = 2.0 if event_id == larger else 1.0
                bus.publish_nowait(
                    position_update(ticket, ts=200, current_price=price, event_id=event_id)
                )
                await bus.flush()  # each in its own batch: the stored row decides
    assert query(path, "SELECT ticket, current_price, event_id FROM trade_positions") == [
        (1, 2.0, ids[1][1]),
        (2, 2.0, ids[2][1]),
    ]


async def test_a_closing_update_records_close_price_and_realized_pnl(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        bus.publish_nowait(position_update(1, ts=200, current_price=50_400.0, unrealized_pnl=4.0))
        bus.publish_nowait(
            position_update(
                1,
                ts=300,
                status="closed",
                current_price=51_000.0,
                close_price=51_000.0,
                realized_pnl=10.0,
            )
        )
        await bus.flush()
    assert query(
        path,
        "SELECT status, close_price, realized_pnl, unrealized_pnl, opened_ts, closed_ts "
        "FROM trade_positions",
    ) == [("closed", 51_000.0, 10.0, None, 100, 300)]


async def test_updates_before_the_execution_keep_their_newer_state(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(position_update(1, ts=200, current_price=50_200.0, stop_loss=50_000.0))
        await bus.flush()
        bus.publish_nowait(execution(1, ts=100, entry_price=50_000.0))
        await bus.flush()
    assert query(
        path,
        "SELECT direction, status, entry_price, current_price, stop_loss, opened_ts, ts "
        "FROM trade_positions",
    ) == [("BUY", "modified", 50_000.0, 50_200.0, 50_000.0, 100, 200)]


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


async def test_recommendation_updates_change_it_in_place_and_are_kept(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        await bus.flush()
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="executed",
                                                ticket=12345, ts=200))  # fmt: skip
        await bus.flush()
        closed = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="win",
                                      realized_pnl=10.0, ts=300)  # fmt: skip
        bus.publish_nowait(closed)
        bus.publish_nowait(closed)  # a replay changes nothing
        await bus.flush()
    assert query(
        path,
        "SELECT recommendation_id, status, ticket, outcome, realized_pnl, updated_ts "
        "FROM trade_recommendations",
    ) == [(rid, "closed", 12345, "win", 10.0, 300)]
    assert query(path, "SELECT status, ticket, ts FROM recommendation_updates ORDER BY ts") == [
        ("executed", 12345, 200),
        ("closed", None, 300),
    ]


async def test_a_recommendation_arriving_after_its_update_takes_the_update(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    update = RecommendationUpdate(
        recommendation_id=rec.recommendation_id, status="executed", ticket=7, ts=200
    )
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(update)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(path, "SELECT status, ticket, updated_ts FROM trade_recommendations") == [
        ("executed", 7, 200)
    ]
    assert count(path, "recommendation_updates") == 1


async def test_a_recommendation_update_of_an_earlier_stage_does_not_undo_a_later_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(
            RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=300)
        )
        await bus.flush()
        # Made later, stamped later: a timer's expiry and a stale "pending".
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="expired", ts=400))
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="pending", ts=500))
        await bus.flush()
    assert query(path, "SELECT status, ticket, updated_ts FROM trade_recommendations") == [
        ("executed", 7, 300)
    ]
    assert count(path, "recommendation_updates") == 3


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


# ------------------------------------------------- order, finality, repeats, replays

_T = 1_700_000_000_000_000_000  # a wall-clock time, ns
_SECOND = 1_000_000_000


def _close(ticket: int, *, ts: int, price: float, pnl: float, **fields: Any) -> PositionUpdate:
    return position_update(
        ticket, ts=ts, status="closed", current_price=price, close_price=price,
        realized_pnl=pnl, **fields,
    )  # fmt: skip


_POSITION = (
    "SELECT status, current_price, volume, close_price, realized_pnl, unrealized_pnl, closed_ts, "
    "event_id FROM trade_positions"
)


async def test_a_close_stamped_before_the_last_update_still_closes_the_position(
    tmp_path: Path,
) -> None:
    # The wall clock stepped back 2 s between the update and the close.
    path = tmp_path / MAIN.filename
    close = _close(1, ts=_T - _SECOND, price=50_200.0, pnl=2.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T - 2 * _SECOND))
        bus.publish_nowait(
            position_update(1, ts=_T + _SECOND, current_price=50_100.0, unrealized_pnl=1.0)
        )
        await bus.flush()
        bus.publish_nowait(close)
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_200.0, 0.01, 50_200.0, 2.0, None, _T - _SECOND, close.event_id)
    ]


async def test_a_recommendation_closed_with_an_earlier_clock_is_closed(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(
            RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=_T)
        )
        await bus.flush()
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="closed",
                                                outcome="win", realized_pnl=2.0,
                                                ts=_T - 2 * _SECOND))  # fmt: skip
        await bus.flush()
    assert query(
        path, "SELECT status, ticket, outcome, realized_pnl FROM trade_recommendations"
    ) == [("closed", 7, "win", 2.0)]


async def test_no_update_after_a_close_reopens_the_position(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    made_before_the_close = position_update(1, ts=_T + 1, current_price=50_050.0)
    close = _close(1, ts=_T + 2, price=50_200.0, pnl=2.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(close)
        await bus.flush()
        # Made later (a larger event_id, a later ts), or made earlier and delivered late.
        bus.publish_nowait(
            position_update(1, ts=_T + 3, current_price=50_300.0, volume=1.0, unrealized_pnl=3.0)
        )
        bus.publish_nowait(made_before_the_close)
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_200.0, 0.01, 50_200.0, 2.0, None, _T + 2, close.event_id)
    ]
    assert count(path, "position_updates") == 3  # every update is kept in the history
    assert count(path, "dead_letters") == 0


async def test_a_close_made_before_the_last_update_closes_the_position(tmp_path: Path) -> None:
    # Two processes: the close got the smaller event_id, but arrives last. A close is
    # final whatever the order: the position closes with the close's values.
    path = tmp_path / MAIN.filename
    close_id, modify_id = new_event_id(), new_event_id()
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(position_update(1, ts=_T + 2, current_price=50_300.0,
                                           unrealized_pnl=3.0, event_id=modify_id))  # fmt: skip
        await bus.flush()
        bus.publish_nowait(_close(1, ts=_T + 1, price=50_100.0, pnl=1.0, event_id=close_id))
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_100.0, 0.01, 50_100.0, 1.0, None, _T + 1, close_id)
    ]


_SECOND_CLOSE = (
    "IntegrityError: position_updates: this ticket was closed before by another close "
    "(another event_id); a position closes once: a retry must repeat the close under its "
    "event_id"
)


@pytest.mark.parametrize("batches", ["one batch", "a batch each"])
async def test_of_two_closes_the_first_stored_holds_and_the_other_is_refused(
    tmp_path: Path, batches: str
) -> None:
    # Two callers close one ticket at once (other event_ids, other P&L): whatever
    # their event_ids, the close that arrives first is stored, the other is refused.
    path = tmp_path / MAIN.filename
    ids = {ticket: (new_event_id(), new_event_id()) for ticket in (1, 2)}
    refused: dict[int, tuple[PositionUpdate, int, NotStored]] = {}
    async with running_writer(path, MAIN) as (bus, _):
        for ticket, (made_first, made_second) in ids.items():
            bus.publish_nowait(execution(ticket, ts=_T))
            await bus.flush()
            arriving_first, arriving_last = (
                (made_first, made_second) if ticket == 1 else (made_second, made_first)
            )
            bus.publish_nowait(_close(ticket, ts=_T + 1, price=50_100.0, pnl=100.0,
                                      event_id=arriving_first))  # fmt: skip
            if batches == "a batch each":
                await bus.flush()
            late = _close(ticket, ts=_T + 1, price=50_900.0, pnl=900.0, event_id=arriving_last)
            seq = bus.publish_nowait(late)
            with pytest.raises(NotStored, match="closed before by another close") as failure:
                await bus.flush()
            refused[ticket] = (late, seq, failure.value)
            bus.publish_nowait(late)  # the refused close again: refused again
            with pytest.raises(NotStored, match="closed before by another close"):
                await bus.flush()
    assert query(
        path, "SELECT ticket, status, close_price, realized_pnl, event_id FROM trade_positions"
    ) == [
        (1, "closed", 50_100.0, 100.0, ids[1][0]),
        (2, "closed", 50_100.0, 100.0, ids[2][1]),
    ]
    assert query(
        path,
        "SELECT ticket, event_id FROM position_updates WHERE status = 'closed' ORDER BY ticket",
    ) == [(1, ids[1][0]), (2, ids[2][1])]
    letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert letters == [
        (schemas.encode(refused[ticket][0]), _SECOND_CLOSE) for ticket in (1, 1, 2, 2)
    ]
    for _, seq, error in refused.values():
        assert (error.event_type, error.seq, error.more) == ("PositionUpdate", seq, 0)
        assert error.reason == f"went to dead_letters: {_SECOND_CLOSE}"


async def test_a_close_replayed_unchanged_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    close = _close(1, ts=_T + 1, price=50_100.0, pnl=1.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(close)
        bus.publish_nowait(close)  # in the same batch
        await bus.flush()
        bus.publish_nowait(close)  # in another
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_100.0, 0.01, 50_100.0, 1.0, None, _T + 1, close.event_id)
    ]
    assert count(path, "position_updates") == 1
    assert count(path, "dead_letters") == 0


async def test_of_two_closes_of_a_recommendation_the_first_stored_holds(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    made_first, made_second = new_event_id(), new_event_id()
    loss = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="loss",
                                realized_pnl=-3.0, ts=_T, event_id=made_second)  # fmt: skip
    win = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="win",
                               realized_pnl=2.0, ts=_T, event_id=made_first)  # fmt: skip
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(loss)  # arrives first, made second
        bus.publish_nowait(loss)  # replayed unchanged: a no-op
        await bus.flush()
        seq = bus.publish_nowait(win)
        with pytest.raises(NotStored, match="closed before by another update") as refused:
            await bus.flush()
    assert query(
        path, "SELECT status, outcome, realized_pnl, updated_event_id FROM trade_recommendations"
    ) == [("closed", "loss", -3.0, made_second)]
    assert query(path, "SELECT event_id FROM recommendation_updates") == [(made_second,)]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(win)
    assert error == (
        "IntegrityError: recommendation_updates: this recommendation was closed before by "
        "another update (another event_id); a recommendation closes once: a retry must repeat "
        "the close under its event_id"
    )
    assert (refused.value.seq, refused.value.more) == (seq, 0)


async def test_a_closed_recommendation_is_never_reopened_but_an_expired_one_may_execute(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    ends: tuple[Literal["rejected", "expired", "closed"], ...] = ("rejected", "expired", "closed")
    recs = {status: recommendation() for status in ends}
    async with running_writer(path, ANALYSIS) as (bus, _):
        for status, rec in recs.items():
            bus.publish_nowait(rec)
            bus.publish_nowait(RecommendationUpdate(recommendation_id=rec.recommendation_id,
                                                    status=status, ts=_T))  # fmt: skip
        await bus.flush()
        for rec in recs.values():  # later by every measure
            laters: tuple[Literal["pending", "executed", "expired"], ...]
            laters = ("pending", "executed", "expired")
            for later in laters:
                rid = rec.recommendation_id
                update = RecommendationUpdate(
                    recommendation_id=rid, status=later, ticket=9, ts=_T + 1
                )
                bus.publish_nowait(update)
        await bus.flush()
    assert query(
        path, "SELECT recommendation_id, status, ticket, updated_ts FROM trade_recommendations"
    ) == [
        (recs["rejected"].recommendation_id, "executed", 9, _T + 1),  # the trade exists
        (recs["expired"].recommendation_id, "executed", 9, _T + 1),
        (recs["closed"].recommendation_id, "closed", None, _T),  # final
    ]
    assert count(path, "recommendation_updates") == 12


async def test_a_recommendation_arriving_after_its_updates_takes_their_final_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    executed = RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=_T)
    closed = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="loss",
                                  realized_pnl=-3.0, ts=_T - _SECOND)  # fmt: skip
    pending = RecommendationUpdate(recommendation_id=rid, status="pending", ts=_T + _SECOND)
    async with running_writer(path, ANALYSIS) as (bus, _):
        for update in (pending, closed, executed):
            bus.publish_nowait(update)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(
        path,
        "SELECT status, ticket, outcome, realized_pnl, updated_ts FROM trade_recommendations",
    ) == [("closed", 7, "loss", -3.0, _T - _SECOND)]


@pytest.mark.parametrize("first_trade", ["open", "closed"])
async def test_a_second_execution_on_a_ticket_is_refused_and_never_merged(
    tmp_path: Path, first_trade: str
) -> None:
    path = tmp_path / MAIN.filename
    first = execution(1, ts=_T)
    second = TradeExecution(ticket=1, symbol="BTCUSDT", direction="SELL", entry_price=60_000.0,
                            volume=0.5, ts=_T + 10 * _SECOND)  # fmt: skip
    async with running_writer(path, MAIN) as (bus, actor):
        bus.publish_nowait(first)
        bus.publish_nowait(
            position_update(1, ts=_T + 1, current_price=50_100.0, stop_loss=49_900.0)
        )
        if first_trade == "closed":
            bus.publish_nowait(_close(1, ts=_T + 2, price=50_200.0, pnl=2.0))
        await bus.flush()
        before = query(path, "SELECT * FROM trade_positions")
        seq = bus.publish_nowait(second)
        bus.publish_nowait(execution(2, ts=_T + 3))  # the rest of the batch is stored
        with pytest.raises(NotStored, match="opened before by another execution") as refused:
            await bus.flush()
        await bus.flush()  # reported once
        assert actor.statistics().dead_letters == 1
    assert query(path, "SELECT * FROM trade_positions WHERE ticket = 1") == before
    assert query(path, "SELECT ticket, event_id FROM trade_executions ORDER BY ticket") == [
        (1, first.event_id),
        (2, query(path, "SELECT event_id FROM trade_executions WHERE ticket = 2")[0][0]),
    ]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(second)
    assert "ticket was opened before by another execution (another event_id)" in error
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeExecution",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"


_REUSED_TICKET = (
    "IntegrityError: trade_executions: this ticket was opened before by another execution "
    "(another event_id); a ticket opens one trade: a retry must repeat the execution under "
    "its event_id, a new trade needs a ticket of its own"
)


async def test_an_execution_repeated_under_a_new_event_id_is_refused(tmp_path: Path) -> None:
    # Two identical calls racing, or a direct publish of the same trade: skipping the
    # second would acknowledge an event_id stored nowhere.
    path = tmp_path / MAIN.filename
    first = execution(1, ts=_T)
    repeat = msgspec.structs.replace(first, event_id=new_event_id())  # the same content
    async with running_writer(path, MAIN) as (bus, actor):
        bus.publish_nowait(first)
        await bus.flush()
        bus.publish_nowait(position_update(1, ts=_T + 1, current_price=50_100.0))
        seq = bus.publish_nowait(repeat)
        with pytest.raises(NotStored, match="opened before by another execution") as refused:
            await bus.flush()
        bus.publish_nowait(first)  # the stored event replayed: a no-op
        await bus.flush()
        assert actor.statistics().dead_letters == 1
    assert query(path, "SELECT ticket, ts, event_id FROM trade_executions") == [
        (1, _T, first.event_id)
    ]
    assert query(path, "SELECT status, current_price, volume FROM trade_positions") == [
        ("modified", 50_100.0, 0.01)
    ]
    assert query(path, "SELECT data, error FROM dead_letters") == [
        (schemas.encode(repeat), _REUSED_TICKET)
    ]
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeExecution",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {_REUSED_TICKET}"


async def test_an_execution_after_its_updates_is_stored(tmp_path: Path) -> None:
    # Updates delivered before their execution make a row with no direction: the
    # execution is the ticket's first, not a reuse.
    path = tmp_path / MAIN.filename
    opened = execution(1, ts=_T)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(position_update(1, ts=_T + 1, current_price=50_100.0))
        await bus.flush()
        bus.publish_nowait(opened)
        bus.publish_nowait(opened)  # replayed: a no-op
        await bus.flush()
    assert query(path, "SELECT event_id FROM trade_executions") == [(opened.event_id,)]
    assert query(path, "SELECT direction, status, current_price FROM trade_positions") == [
        ("BUY", "modified", 50_100.0)
    ]
    assert count(path, "dead_letters") == 0


_REUSED_RECOMMENDATION_ID = (
    "IntegrityError: trade_recommendations: this recommendation_id was stored before by "
    "another event (another event_id); a recommendation is logged once: a retry must repeat "
    "it under its event_id, a change is a recommendation update, a new recommendation needs "
    "a recommendation_id of its own"
)


@pytest.mark.parametrize("content", ["the same", "another entry_price"])
async def test_a_recommendation_id_stored_under_another_event_id_is_refused(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation("rec-1")
    repeat = msgspec.structs.replace(recommendation("rec-1"), ts=rec.ts)  # a new event_id
    if content != "the same":
        repeat = msgspec.structs.replace(repeat, entry_price=50_001.0)
    async with running_writer(path, ANALYSIS) as (bus, actor):
        bus.publish_nowait(rec)
        bus.publish_nowait(RecommendationUpdate(recommendation_id="rec-1", status="executed",
                                                ticket=7, ts=_T))  # fmt: skip
        bus.publish_nowait(rec)  # a replay: a no-op
        await bus.flush()
        assert actor.statistics().dead_letters == 0
        seq = bus.publish_nowait(repeat)
        with pytest.raises(NotStored, match="recommendation_id was stored before") as refused:
            await bus.flush()
    stored = "SELECT recommendation_id, status, ticket, ts, event_id FROM trade_recommendations"
    assert query(path, stored) == [("rec-1", "executed", 7, 100, rec.event_id)]
    assert query(path, "SELECT data, error FROM dead_letters") == [
        (schemas.encode(repeat), _REUSED_RECOMMENDATION_ID)
    ]
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeRecommendation",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {_REUSED_RECOMMENDATION_ID}"


async def test_a_replayed_update_with_other_content_leaves_the_position_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T + 1, current_price=50_100.0, volume=0.01,
                             unrealized_pnl=1.0)  # fmt: skip
    phantom = msgspec.structs.replace(update, volume=1_000.0, unrealized_pnl=-1e9)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(update)
        await bus.flush()
        before = query(path, "SELECT * FROM trade_positions")
        seq = bus.publish_nowait(phantom)
        bus.publish_nowait(update)  # the same content: a no-op, no error
        with pytest.raises(NotStored, match="stored before with another volume") as refused:
            await bus.flush()
        bus.publish_nowait(_close(1, ts=_T + 2, price=50_050.0, pnl=0.5))
        await bus.flush()
        bus.publish_nowait(update)  # replayed after the close: still a no-op
        await bus.flush()
    assert before == [
        (1, "BTCUSDT", "BUY", "modified", 50_000.0, 0.01, 49_500.0, 51_000.0, 50_100.0, 1.0,
         None, None, None, _T, None, _T + 1, update.event_id)
    ]  # fmt: skip
    assert query(path, "SELECT status, volume, realized_pnl FROM trade_positions") == [
        ("closed", 0.01, 0.5)
    ]
    assert query(path, "SELECT volume, unrealized_pnl FROM position_updates WHERE event_id = ?",
                 (update.event_id,)) == [(0.01, 1.0)]  # fmt: skip
    [(error,)] = query(path, "SELECT error FROM dead_letters")
    assert "event_id was stored before with another volume" in error
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "PositionUpdate",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"


# A field of each event type keyed by event_id, and another value for it.
_OTHER_CONTENT: dict[type[Event], tuple[str, object]] = {
    TradeExecution: ("volume", 1_000.0),
    PositionUpdate: ("realized_pnl", -1e9),
    TradeRecommendation: ("confidence", 1.0),
    RecommendationUpdate: ("realized_pnl", 1e9),  # still a win: the outcome agrees
    TradeAnalysis: ("indicators", {"rsi": 99.0}),
    AnalysisResult: ("symbol", None),
    TradeMonitoring: ("details", "something else"),
    TradeAlert: ("message", "something else"),
    ApiLog: ("status_code", 500),
    SystemHealth: ("status", "down"),
}


@pytest.mark.parametrize("event_type", list(_OTHER_CONTENT), ids=lambda t: t.__name__)
async def test_a_replayed_event_id_is_a_no_op_or_with_other_content_refused(
    tmp_path: Path, event_type: type[Event]
) -> None:
    [event] = [e for e in sample_events() if type(e) is event_type]
    field, value = _OTHER_CONTENT[event_type]
    other = msgspec.structs.replace(event, **{field: value})
    filename, table = TABLES[event_type]
    spec = next(spec for spec in SPECS if spec.filename == filename)
    path = tmp_path / filename
    async with running_writer(path, spec) as (bus, _):
        bus.publish_nowait(event)
        await bus.flush()
        before = {t: query(path, f"SELECT * FROM {t}") for t in spec.tables}
        bus.publish_nowait(event)
        seq = bus.publish_nowait(other)
        bus.publish_nowait(event)
        with pytest.raises(NotStored, match=f"stored before with another {field};") as refused:
            await bus.flush()
        after = {t: query(path, f"SELECT * FROM {t}") for t in spec.tables}
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(other)
    assert error == (
        f"IntegrityError: {table}: an event with this event_id was stored before with another "
        f"{field}; a replay must repeat the event unchanged, a new fact needs a new event_id"
    )
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        event_type.__name__,
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"
    assert before.pop("dead_letters") == []
    assert len(after.pop("dead_letters")) == 1
    assert after == before  # no state changed anywhere


async def test_both_copies_of_a_replay_in_one_batch_store_one(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T + 1, current_price=50_100.0)
    other = msgspec.structs.replace(update, current_price=1.0)
    async with running_writer(path, MAIN) as (bus, actor):
        seqs = [
            bus.publish_nowait(event)
            for event in (execution(1, ts=_T), update, update, other, execution(2, ts=_T))
        ]
        with pytest.raises(NotStored, match="stored before with another current_price") as refused:
            await bus.flush()
        assert actor.statistics().batches >= 1
    assert (refused.value.seq, refused.value.more) == (seqs[3], 0)
    assert query(path, "SELECT ticket, status, current_price FROM trade_positions") == [
        (1, "modified", 50_100.0),
        (2, "open", 50_000.0),
    ]
    assert query(path, "SELECT current_price FROM position_updates") == [(50_100.0,)]
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(other),)]


def test_the_guarded_columns_cover_every_field_of_the_events() -> None:
    # A field added to an event needs a migration that guards its column too.
    for event_type, (_filename, table) in TABLES.items():
        if table in EVENT_COLUMNS:
            fields = set(event_type.__struct_fields__) - {"event_id"}
            assert set(EVENT_COLUMNS[table]) == fields, table


async def test_an_update_delivered_late_fills_in_what_no_later_update_changed(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    stops_moved = position_update(1, ts=_T + 1, current_price=50_100.0, stop_loss=49_900.0,
                                  take_profit=51_500.0)  # fmt: skip
    price_moved = position_update(1, ts=_T + 2, current_price=50_200.0, take_profit=52_000.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(price_moved)
        await bus.flush()
        bus.publish_nowait(stops_moved)  # made first, delivered last
        await bus.flush()
    assert query(
        path, "SELECT current_price, stop_loss, take_profit, event_id FROM trade_positions"
    ) == [(50_200.0, 49_900.0, 52_000.0, price_moved.event_id)]
