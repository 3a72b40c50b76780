"""Database specs: file name, topics, migrations, and how each event becomes rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)

from ._ddl import ANALYSIS_MIGRATIONS, LOGS_MIGRATIONS, MAIN_MIGRATIONS

__all__ = ["ANALYSIS", "LOGS", "MAIN", "DatabaseSpec", "Statement"]

#: (table, sql, rows): one ``executemany`` inside the batch's transaction; ``table``
#: names where each of ``rows`` is written, for statistics ("" for statements that
#: only update what other rows say, or that are counted otherwise).
Statement = tuple[str, str, Sequence[Sequence[Any]]]
#: Turns the events of one type (in publish order) into statements.
Handler = Callable[[Sequence[Any]], list[Statement]]

_json = msgspec.json.encode


def _text(payload: object) -> str:
    return _json(payload).decode()


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseSpec:
    """What one database holds and how events are stored in it.

    :param name: the database's short name (``main``, ``analysis``, ``logs``).
    :param filename: the default file name in the data directory.
    :param topics: the topic patterns its writer subscribes to.
    :param tables: the tables its writer writes (``dead_letters`` too): the rows it
        counts per table in ``WriterActor.statistics().rows``.
    :param migrations: numbered schema scripts; ``PRAGMA user_version`` is how many ran.
    :param handlers: for each event type, how its events become rows.
    :param tick_table: the table ticks go to, on the fast path (or None).
    """

    name: str
    filename: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    migrations: tuple[str, ...]
    handlers: Mapping[type[Event], Handler]
    tick_table: str | None = None

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        """The event types whose home is this database."""
        types = tuple(self.handlers)
        return (Tick, *types) if self.tick_table else types

    @property
    def schema_version(self) -> int:
        return len(self.migrations)

    def with_filename(self, filename: str) -> DatabaseSpec:
        """A copy of this spec stored under another file name."""
        return dataclasses.replace(self, filename=filename)


# ------------------------------------------------------------------------ main


def _candles(events: Sequence[Candle]) -> list[Statement]:
    sql = """
        INSERT INTO candles (symbol, timeframe, ts_open, open, high, low, close, volume,
                             tick_count, ts)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (symbol, timeframe, ts_open) DO UPDATE SET
            open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume,
            tick_count = excluded.tick_count, ts = excluded.ts
        WHERE excluded.ts >= candles.ts
    """
    rows = [
        (e.symbol, e.timeframe, e.ts_open, e.open, e.high, e.low, e.close, e.volume,
         e.tick_count, e.ts)
        for e in events
    ]  # fmt: skip
    return [("candles", sql, rows)]


def _executions(events: Sequence[TradeExecution]) -> list[Statement]:
    insert = """
        INSERT INTO trade_executions (ticket, symbol, direction, entry_price, volume,
            stop_loss, take_profit, recommendation_id, comment, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (event_id) DO NOTHING
    """
    # An execution opens its position. If updates for the ticket arrived first, they
    # are newer: keep their state and fill in only what the execution knows.
    open_position = """
        INSERT INTO trade_positions (ticket, symbol, direction, status, entry_price, volume,
            stop_loss, take_profit, current_price, recommendation_id, opened_ts, ts, event_id)
        VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?4, ?8, ?9, ?9, ?10)
        ON CONFLICT (ticket) DO UPDATE SET
            direction = excluded.direction,
            entry_price = excluded.entry_price,
            opened_ts = excluded.opened_ts,
            recommendation_id = coalesce(excluded.recommendation_id,
                                         trade_positions.recommendation_id),
            volume = coalesce(trade_positions.volume, excluded.volume),
            stop_loss = coalesce(trade_positions.stop_loss, excluded.stop_loss),
            take_profit = coalesce(trade_positions.take_profit, excluded.take_profit)
    """
    rows = [
        (e.ticket, e.symbol, e.direction, e.entry_price, e.volume, e.stop_loss, e.take_profit,
         e.recommendation_id, e.comment, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    positions = [
        (e.ticket, e.symbol, e.direction, e.entry_price, e.volume, e.stop_loss, e.take_profit,
         e.recommendation_id, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    return [("trade_executions", insert, rows), ("trade_positions", open_position, positions)]


def _position_updates(events: Sequence[PositionUpdate]) -> list[Statement]:
    history = """
        INSERT INTO position_updates (ticket, symbol, status, current_price, volume,
            stop_loss, take_profit, unrealized_pnl, close_price, realized_pnl, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (event_id) DO NOTHING
    """
    # One row per ticket; an update older by ts (ties: smaller event_id) never
    # overwrites a newer one, so replays and out-of-order delivery converge.
    upsert = """
        INSERT INTO trade_positions (ticket, symbol, status, current_price, volume,
            stop_loss, take_profit, unrealized_pnl, close_price, realized_pnl, closed_ts,
            ts, event_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                CASE WHEN ?3 = 'closed' THEN ?11 END, ?11, ?12)
        ON CONFLICT (ticket) DO UPDATE SET
            status = excluded.status,
            current_price = excluded.current_price,
            volume = coalesce(excluded.volume, trade_positions.volume),
            stop_loss = coalesce(excluded.stop_loss, trade_positions.stop_loss),
            take_profit = coalesce(excluded.take_profit, trade_positions.take_profit),
            unrealized_pnl = CASE WHEN excluded.status = 'closed' THEN NULL
                ELSE coalesce(excluded.unrealized_pnl, trade_positions.unrealized_pnl) END,
            close_price = coalesce(excluded.close_price, trade_positions.close_price),
            realized_pnl = coalesce(excluded.realized_pnl, trade_positions.realized_pnl),
            closed_ts = coalesce(excluded.closed_ts, trade_positions.closed_ts),
            ts = excluded.ts,
            event_id = excluded.event_id
        WHERE excluded.ts > trade_positions.ts
           OR (excluded.ts = trade_positions.ts AND excluded.event_id > trade_positions.event_id)
    """
    rows = [
        (e.ticket, e.symbol, e.status, e.current_price, e.volume, e.stop_loss, e.take_profit,
         e.unrealized_pnl, e.close_price, e.realized_pnl, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    return [("position_updates", history, rows), ("trade_positions", upsert, rows)]


# -------------------------------------------------------------------- analysis

# The current state of a recommendation is its latest update (by ts, then event_id);
# applying it is idempotent, and also runs when the recommendation itself arrives
# after its updates (out-of-order delivery).
_APPLY_LATEST_UPDATE: Final = """
    UPDATE trade_recommendations AS r SET
        status = u.status,
        ticket = coalesce(u.ticket, r.ticket),
        outcome = coalesce(u.outcome, r.outcome),
        realized_pnl = coalesce(u.realized_pnl, r.realized_pnl),
        updated_ts = u.ts,
        updated_event_id = u.event_id
    FROM (SELECT status, ticket, outcome, realized_pnl, ts, event_id
          FROM recommendation_updates WHERE recommendation_id = ?1
          ORDER BY ts DESC, event_id DESC LIMIT 1) AS u
    WHERE r.recommendation_id = ?1
      AND (u.ts > r.updated_ts OR (u.ts = r.updated_ts AND u.event_id > r.updated_event_id))
"""


def _recommendations(events: Sequence[TradeRecommendation]) -> list[Statement]:
    insert = """
        INSERT INTO trade_recommendations (recommendation_id, symbol, direction,
            entry_price, stop_loss, take_profit, confidence, reasoning, timeframe, source,
            ts, updated_ts, updated_event_id, event_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, '', ?12)
        ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.recommendation_id, e.symbol, e.direction, e.entry_price, e.stop_loss,
         e.take_profit, e.confidence, e.reasoning, e.timeframe, e.source, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    ids = [(e.recommendation_id,) for e in events]
    return [
        ("trade_recommendations", insert, rows),
        ("", _APPLY_LATEST_UPDATE, ids),
    ]


def _recommendation_updates(events: Sequence[RecommendationUpdate]) -> list[Statement]:
    history = """
        INSERT INTO recommendation_updates (recommendation_id, status, ticket, outcome,
            realized_pnl, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.recommendation_id, e.status, e.ticket, e.outcome, e.realized_pnl, e.ts, e.event_id)
        for e in events
    ]
    ids = sorted({(e.recommendation_id,) for e in events})
    return [
        ("recommendation_updates", history, rows),
        ("", _APPLY_LATEST_UPDATE, ids),
    ]


def _analyses(events: Sequence[TradeAnalysis]) -> list[Statement]:
    sql = """
        INSERT INTO trade_analysis (symbol, timeframe, regime, confluence_score, indicators,
            ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.symbol, e.timeframe, e.regime, e.confluence_score, _text(e.indicators), e.ts,
         e.event_id)
        for e in events
    ]  # fmt: skip
    return [("trade_analysis", sql, rows)]


def _results(events: Sequence[AnalysisResult]) -> list[Statement]:
    sql = """
        INSERT INTO analysis_results (kind, payload, symbol, ts, event_id)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [(e.kind, _text(e.payload), e.symbol, e.ts, e.event_id) for e in events]
    return [("analysis_results", sql, rows)]


# ------------------------------------------------------------------------ logs


def _monitoring(events: Sequence[TradeMonitoring]) -> list[Statement]:
    sql = """
        INSERT INTO trade_monitoring (ticket, symbol, monitoring_type, status, details, ts,
            event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.ticket, e.symbol, e.monitoring_type, e.status, e.details, e.ts, e.event_id)
        for e in events
    ]
    return [("trade_monitoring", sql, rows)]


def _alerts(events: Sequence[TradeAlert]) -> list[Statement]:
    sql = """
        INSERT INTO trade_alerts (alert_type, severity, message, symbol, ticket, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.alert_type, e.severity, e.message, e.symbol, e.ticket, e.ts, e.event_id) for e in events
    ]
    return [("trade_alerts", sql, rows)]


def _api_logs(events: Sequence[ApiLog]) -> list[Statement]:
    sql = """
        INSERT INTO api_logs (method, path, status_code, duration_ms, client, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [
        (e.method, e.path, e.status_code, e.duration_ms, e.client, e.ts, e.event_id) for e in events
    ]
    return [("api_logs", sql, rows)]


def _health(events: Sequence[SystemHealth]) -> list[Statement]:
    sql = """
        INSERT INTO system_health (component, status, details, ts, event_id)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
    """
    rows = [(e.component, e.status, _text(e.details), e.ts, e.event_id) for e in events]
    return [("system_health", sql, rows)]


MAIN: Final = DatabaseSpec(
    name="main",
    filename="unified_tick_pipeline.db",
    topics=("market.>", "trade.>"),
    tables=(
        "unified_ticks",
        "candles",
        "trade_executions",
        "trade_positions",
        "position_updates",
        "dead_letters",
    ),
    migrations=MAIN_MIGRATIONS,
    handlers={Candle: _candles, TradeExecution: _executions, PositionUpdate: _position_updates},
    tick_table="unified_ticks",
)

ANALYSIS: Final = DatabaseSpec(
    name="analysis",
    filename="analysis_data.db",
    topics=("analysis.>",),
    tables=(
        "trade_recommendations",
        "recommendation_updates",
        "trade_analysis",
        "analysis_results",
        "dead_letters",
    ),
    migrations=ANALYSIS_MIGRATIONS,
    handlers={
        TradeRecommendation: _recommendations,
        RecommendationUpdate: _recommendation_updates,
        TradeAnalysis: _analyses,
        AnalysisResult: _results,
    },
)

LOGS: Final = DatabaseSpec(
    name="logs",
    filename="system_logs.db",
    topics=("logs.>",),
    tables=("trade_monitoring", "trade_alerts", "api_logs", "system_health", "dead_letters"),
    migrations=LOGS_MIGRATIONS,
    handlers={
        TradeMonitoring: _monitoring,
        TradeAlert: _alerts,
        ApiLog: _api_logs,
        SystemHealth: _health,
    },
)
