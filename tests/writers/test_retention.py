"""Retention: the writer that owns a database deletes what its policy no longer keeps,
in bounded steps, and nothing else."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    Timeframe,
    TradeAlert,
    TradeAnalysis,
    TradeMonitoring,
)
from writers import ANALYSIS, LOGS, MAIN, Pruner, Retention, prunable
from writers._prune_sql import START, count_prunable, prune_step
from writers._retention import NS_PER_DAY, TARGETS

from ._helpers import count, execution, position_update, query, recommendation, running_writer

NOW = time.time_ns()
OLD = NOW - 40 * NS_PER_DAY  # older than 30 days
ANCIENT = NOW - 200 * NS_PER_DAY  # older than 90 days
RECENT = NOW - 1 * NS_PER_DAY


def _clock() -> int:
    return NOW


def ticks(symbol: str, n: int, ts: int) -> list[Tick]:
    return [Tick(symbol=symbol, bid=100.0 + i, ask=100.5 + i, ts=ts + i) for i in range(n)]


def candle(ts_open: int, timeframe: Timeframe = "M1") -> Candle:
    return Candle(
        symbol="BTCUSDT",
        timeframe=timeframe,
        ts_open=ts_open,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        ts=ts_open + 60_000_000_000,
    )


async def publish(bus: Any, events: Sequence[Event]) -> None:
    for event in events:
        await bus.publish(event)
    await bus.flush()


async def test_a_prune_deletes_old_ticks_in_bounded_steps_and_keeps_candles_and_trades(
    tmp_path: Path,
) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (bus, writer):
        old = ticks("BTCUSDT", 250, OLD) + ticks("ETHUSDT", 120, OLD) + ticks("EURUSD", 5, OLD)
        recent = ticks("BTCUSDT", 30, RECENT) + ticks("ETHUSDT", 30, RECENT)
        await publish(bus, [*old, *recent])
        await publish(bus, [candle(OLD), candle(OLD, "H1"), candle(RECENT)])
        # A trade long closed and one still open, both older than the ticks kept.
        await publish(bus, [execution(1, ts=ANCIENT), execution(2, ts=ANCIENT)])
        close = position_update(1, ts=ANCIENT + 1, current_price=1.0, status="closed")
        await publish(bus, [close])

        report = await Pruner(writer, Retention(ticks=30, chunk=100), clock=_clock).prune()

        assert report.deleted == {"unified_ticks": 375}
        assert report.bounds == {"unified_ticks": NOW - 30 * NS_PER_DAY}
        assert report.steps >= 4  # never more than 100 rows per transaction
        assert writer.statistics().pruned == {"unified_ticks": 375}
        # Ingest goes on after the prune: a new tick is stored.
        await publish(bus, ticks("BTCUSDT", 1, NOW))
    assert query(path, "SELECT min(ts) >= ? FROM unified_ticks", (RECENT,)) == [(1,)]
    assert count(path, "unified_ticks") == 61
    assert count(path, "candles") == 3  # the candles of pruned ticks stay
    assert count(path, "trade_executions") == 2
    assert query(path, "SELECT ticket, status FROM trade_positions ORDER BY ticket") == [
        (1, "closed"),
        (2, "open"),
    ]
    assert count(path, "position_updates") == 1
    assert query(path, "PRAGMA integrity_check") == [("ok",)]


async def test_candles_go_only_when_a_policy_names_them(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, [candle(OLD), candle(OLD, "H1"), candle(RECENT)])
        kept = await Pruner(writer, Retention(ticks=1), clock=_clock).prune()
        assert kept.deleted == {"unified_ticks": 0}
        assert count(path, "candles") == 3
        gone = await Pruner(writer, Retention(candles=30, chunk=1), clock=_clock).prune()
        assert gone.deleted == {"candles": 2}
    assert query(path, "SELECT ts_open FROM candles") == [(RECENT,)]


def _logs(ts: int) -> list[Event]:
    return [
        TradeMonitoring(ticket=1, symbol="BTCUSDT", monitoring_type="x", status="ok", ts=ts),
        TradeAlert(alert_type="risk", severity="info", message="m", ts=ts),
        ApiLog(method="GET", path="/t", status_code=200, duration_ms=1.0, ts=ts),
        SystemHealth(component="writer.main", status="ok", ts=ts),
        SystemHealth(component="relay", status="ok", ts=ts),
    ]


async def test_a_prune_deletes_old_logs_of_every_log_table(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    async with running_writer(path, LOGS) as (bus, writer):
        await publish(bus, _logs(ANCIENT) + _logs(ANCIENT + 1) + _logs(RECENT))
        report = await Pruner(writer, Retention(logs=90, chunk=3), clock=_clock).prune()
        assert report.deleted == {
            "trade_monitoring": 2,
            "trade_alerts": 2,
            "api_logs": 2,
            "system_health": 4,
        }
        # The schema's guards still hold: a replay of a kept event is a no-op, a new
        # event is stored.
        await publish(bus, _logs(NOW))
    for table in ("trade_monitoring", "trade_alerts", "api_logs"):
        assert count(path, table) == 2
    assert count(path, "system_health") == 4
    assert query(path, "SELECT count(*) FROM system_health WHERE ts < ?", (RECENT,)) == [(0,)]


async def test_a_prune_deletes_old_analyses_by_their_symbol_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "analysis.db"
    async with running_writer(path, ANALYSIS) as (bus, writer):
        events: list[Event] = []
        for ts in (OLD, RECENT):
            for symbol in ("BTCUSDT", "ETHUSDT"):
                events.append(
                    TradeAnalysis(
                        symbol=symbol, timeframe="H1", regime="r", confluence_score=0.5, ts=ts
                    )
                )
                events.append(AnalysisResult(kind=f"k-{symbol}", payload={}, ts=ts))
        await publish(bus, events)
        report = await Pruner(writer, Retention(analysis=30), clock=_clock).prune()
    assert report.deleted == {"trade_analysis": 2, "analysis_results": 2}
    assert query(path, "SELECT count(*) FROM trade_analysis WHERE ts = ?", (RECENT,)) == [(2,)]
    assert count(path, "trade_recommendations") == 0  # untouched, never named


async def test_a_dry_count_says_what_a_prune_then_deletes(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    target = next(t for t in TARGETS if t.table == "unified_ticks")
    bound = NOW - 30 * NS_PER_DAY
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, ticks("A", 7, OLD) + ticks("B", 3, OLD + 10) + ticks("B", 2, RECENT))
        counted = await writer.sqlite.housekeep(lambda c: count_prunable(c, target, bound))
        assert counted == (10, OLD)
        report = await Pruner(writer, Retention(ticks=30, chunk=4), clock=_clock).prune()
        assert report.deleted["unified_ticks"] == 10
        again = await writer.sqlite.housekeep(lambda c: count_prunable(c, target, bound))
        assert again == (0, None)


async def test_a_step_deletes_at_most_a_chunk_and_says_where_to_go_on(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    target = next(t for t in TARGETS if t.table == "unified_ticks")
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, ticks("A", 5, OLD) + ticks("B", 5, OLD))

        def step(at: tuple[object, ...]) -> Any:
            return writer.sqlite.housekeep(lambda c: prune_step(c, target, NOW, 4, at))

        first = await step(START)
        assert first == (4, ("A",))
        second = await step(first.at)
        assert second == (4, ("B",))  # A's last row, then three of B's
        third = await step(second.at)
        assert third == (2, None)
    assert count(path, "unified_ticks") == 0


async def test_ticks_published_while_a_prune_runs_are_all_stored(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, ticks("OLD", 3_000, OLD))
        pruner = Pruner(writer, Retention(ticks=30, chunk=50, share=0.5), clock=_clock)
        async with pruner:  # its first pass starts at once
            fresh = ticks("NEW", 2_000, RECENT)
            for event in fresh:
                await bus.publish(event)
            await bus.flush()
            assert count(path, "unified_ticks") >= 2_000
        stats = pruner.statistics()
    assert query(path, "SELECT count(*) FROM unified_ticks WHERE symbol = 'NEW'") == [(2_000,)]
    left = query(path, "SELECT count(*) FROM unified_ticks WHERE symbol = 'OLD'")[0][0]
    assert left + stats.pruned.get("unified_ticks", 0) == 3_000
    assert query(path, "PRAGMA integrity_check") == [("ok",)]


async def test_a_pruner_with_the_default_policy_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, ticks("A", 5, ANCIENT))
        async with Pruner(writer, Retention()) as pruner:
            pass
        assert pruner.statistics().passes == 0
        assert writer.statistics().pruned == {}
    assert count(path, "unified_ticks") == 5


async def test_a_pruner_outside_its_running_writer_says_so(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (_bus, writer):
        pass
    from writers import WriterError

    with pytest.raises(WriterError, match="its writer is not running"):
        await Pruner(writer, Retention(ticks=1)).prune()


async def test_trades_go_only_closed_and_whole_and_never_an_open_position(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    async with running_writer(path, MAIN) as (bus, writer):
        await publish(bus, [execution(1, ts=ANCIENT), execution(2, ts=ANCIENT), execution(3)])
        await publish(
            bus,
            [
                position_update(1, ts=ANCIENT + 1, current_price=2.0),
                position_update(1, ts=ANCIENT + 2, current_price=1.0, status="closed"),
                position_update(2, ts=ANCIENT + 1, current_price=2.0),  # still open
                position_update(3, ts=RECENT, current_price=1.0, status="closed"),
            ],
        )
        # The monitor's rules and marks of a ticket go with it.
        await publish(
            bus,
            [
                *(ExitRule(ticket=t, symbol="EURUSD", trailing_distance=0.001) for t in (1, 2)),
                *(
                    MonitorMark(
                        ticket=t, symbol="EURUSD", kind="stop_loss_hit", level=1.0,
                        severity="warning", message="hit", ts=ANCIENT + 1,
                    )
                    for t in (1, 2, 3)
                ),
            ],
        )  # fmt: skip
        policy = Retention(trades=30, chunk=1)
        counted = {c.table: c.rows for c in prunable(path, MAIN, policy, NOW)}
        report = await Pruner(writer, policy, clock=_clock).prune()
        assert (
            report.deleted
            == counted
            == {
                "position_updates": 2,
                "trade_executions": 1,
                "exit_rules": 1,
                "monitor_marks": 1,
                "trade_positions": 1,
            }
        )
        # The ticket's guards are gone with it; others still hold.
        await publish(bus, [execution(4, ts=NOW)])
    assert query(path, "SELECT ticket, status FROM trade_positions ORDER BY ticket") == [
        (2, "modified"),  # open: updated, never closed
        (3, "closed"),
        (4, "open"),
    ]
    assert query(path, "SELECT DISTINCT ticket FROM position_updates ORDER BY 1") == [(2,), (3,)]
    assert query(path, "SELECT ticket FROM trade_executions ORDER BY 1") == [(2,), (3,), (4,)]
    assert query(path, "SELECT ticket FROM exit_rules ORDER BY 1") == [(2,)]
    assert query(path, "SELECT ticket FROM monitor_marks ORDER BY 1") == [(2,), (3,)]


async def test_recommendations_go_only_once_ended_with_their_updates(tmp_path: Path) -> None:
    path = tmp_path / "analysis.db"
    async with running_writer(path, ANALYSIS) as (bus, writer):
        recs = {name: recommendation(name) for name in ("closed", "pending", "rejected", "open")}
        recs["recent"] = recommendation("recent")
        await publish(bus, list(recs.values()))

        def update(name: str, status: Any, ts: int) -> RecommendationUpdate:
            return RecommendationUpdate(recommendation_id=name, status=status, ts=ts)

        await publish(
            bus,
            [
                update("closed", "executed", ANCIENT),
                update("closed", "closed", ANCIENT + 1),
                update("rejected", "rejected", ANCIENT),
                update("open", "executed", ANCIENT),  # a trade still under way
                update("recent", "closed", RECENT),
            ],
        )
        report = await Pruner(writer, Retention(recommendations=30), clock=_clock).prune()
        assert report.deleted == {"recommendation_updates": 3, "trade_recommendations": 2}
    assert query(path, "SELECT recommendation_id FROM trade_recommendations ORDER BY 1") == [
        ("open",),
        ("pending",),
        ("recent",),
    ]
    assert count(path, "recommendation_updates") == 2
