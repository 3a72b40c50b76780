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
    # The schema's triggers skip a replay (same event_id, same content), refuse a
    # replay with other content, and refuse any other execution on a ticket that an
    # execution opened (another event_id, whatever its content).
    insert = """
        INSERT INTO trade_executions (ticket, symbol, direction, entry_price, volume,
            stop_loss, take_profit, recommendation_id, comment, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    """
    # An execution opens its position, from the row stored (none for a skipped
    # replay). If updates for the ticket arrived first, they made a row with no
    # direction: keep their state and fill in what the execution knows. A row with a
    # direction is never changed here (so running this again changes nothing).
    open_position = """
        INSERT INTO trade_positions (ticket, symbol, direction, status, entry_price, volume,
            stop_loss, take_profit, current_price, recommendation_id, opened_ts, ts, event_id)
        SELECT ticket, symbol, direction, 'open', entry_price, volume, stop_loss,
            take_profit, entry_price, recommendation_id, ts, ts, event_id
        FROM trade_executions WHERE event_id = ?
        ON CONFLICT (ticket) DO UPDATE SET
            direction = excluded.direction,
            entry_price = excluded.entry_price,
            opened_ts = excluded.opened_ts,
            recommendation_id = coalesce(excluded.recommendation_id,
                                         trade_positions.recommendation_id),
            volume = coalesce(trade_positions.volume, excluded.volume),
            stop_loss = coalesce(trade_positions.stop_loss, excluded.stop_loss),
            take_profit = coalesce(trade_positions.take_profit, excluded.take_profit)
        WHERE trade_positions.direction IS NULL
    """
    rows = [
        (e.ticket, e.symbol, e.direction, e.entry_price, e.volume, e.stop_loss, e.take_profit,
         e.recommendation_id, e.comment, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    ids = [(e.event_id,) for e in events]
    return [("trade_executions", insert, rows), ("trade_positions", open_position, ids)]


def _position_updates(events: Sequence[PositionUpdate]) -> list[Statement]:
    # A trigger applies each update really inserted to its position (one row per
    # ticket), in event_id order, a close being final; a second close of a ticket is
    # refused (the first stored holds): see the schema's migration 3.
    history = """
        INSERT INTO position_updates (ticket, symbol, status, current_price, volume,
            stop_loss, take_profit, unrealized_pnl, close_price, realized_pnl, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    """
    rows = [
        (e.ticket, e.symbol, e.status, e.current_price, e.volume, e.stop_loss, e.take_profit,
         e.unrealized_pnl, e.close_price, e.realized_pnl, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    return [("position_updates", history, rows)]


# -------------------------------------------------------------------- analysis


def _recommendations(events: Sequence[TradeRecommendation]) -> list[Statement]:
    # Triggers skip a replay (same event_id, same content), refuse its
    # recommendation_id under another event_id (whatever the content), and give a
    # recommendation that arrives after its updates the state they make.
    insert = """
        INSERT INTO trade_recommendations (recommendation_id, symbol, direction,
            entry_price, stop_loss, take_profit, confidence, reasoning, timeframe, source,
            ts, updated_ts, updated_event_id, event_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, '', ?12)
    """
    rows = [
        (e.recommendation_id, e.symbol, e.direction, e.entry_price, e.stop_loss,
         e.take_profit, e.confidence, e.reasoning, e.timeframe, e.source, e.ts, e.event_id)
        for e in events
    ]  # fmt: skip
    return [("trade_recommendations", insert, rows)]


def _recommendation_updates(events: Sequence[RecommendationUpdate]) -> list[Statement]:
    # A trigger applies each update really inserted to its recommendation: the
    # furthest stage holds, then the latest event_id (see RECOMMENDATION_STAGES); a
    # second close of a recommendation is refused.
    history = """
        INSERT INTO recommendation_updates (recommendation_id, status, ticket, outcome,
            realized_pnl, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
    """
    rows = [
        (e.recommendation_id, e.status, e.ticket, e.outcome, e.realized_pnl, e.ts, e.event_id)
        for e in events
    ]
    return [("recommendation_updates", history, rows)]


def _analyses(events: Sequence[TradeAnalysis]) -> list[Statement]:
    sql = """
        INSERT INTO trade_analysis (symbol, timeframe, regime, confluence_score, indicators,
            ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
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
        VALUES (?, ?, ?, ?, ?)
    """
    rows = [(e.kind, _text(e.payload), e.symbol, e.ts, e.event_id) for e in events]
    return [("analysis_results", sql, rows)]


# ------------------------------------------------------------------------ logs


def _monitoring(events: Sequence[TradeMonitoring]) -> list[Statement]:
    sql = """
        INSERT INTO trade_monitoring (ticket, symbol, monitoring_type, status, details, ts,
            event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
    """
    rows = [
        (e.ticket, e.symbol, e.monitoring_type, e.status, e.details, e.ts, e.event_id)
        for e in events
    ]
    return [("trade_monitoring", sql, rows)]


def _alerts(events: Sequence[TradeAlert]) -> list[Statement]:
    sql = """
        INSERT INTO trade_alerts (alert_type, severity, message, symbol, ticket, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
    """
    rows = [
        (e.alert_type, e.severity, e.message, e.symbol, e.ticket, e.ts, e.event_id) for e in events
    ]
    return [("trade_alerts", sql, rows)]


def _api_logs(events: Sequence[ApiLog]) -> list[Statement]:
    sql = """
        INSERT INTO api_logs (method, path, status_code, duration_ms, client, ts, event_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
    """
    rows = [
        (e.method, e.path, e.status_code, e.duration_ms, e.client, e.ts, e.event_id) for e in events
    ]
    return [("api_logs", sql, rows)]


def _health(events: Sequence[SystemHealth]) -> list[Statement]:
    sql = """
        INSERT INTO system_health (component, status, details, ts, event_id)
        VALUES (?, ?, ?, ?, ?)
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
