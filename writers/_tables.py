"""The tables of the three databases, each declared once as a mapping (no SQL).

An event's table has a column per field of the event, named as the field (see
:mod:`writers._mapping`); tables keyed by ``event_id`` have a row id ``id`` first.
What a mapping does not say (triggers, the position an execution opens, which candle
wins) is the dialect's hand-written SQL.
"""

from __future__ import annotations

from typing import Final

from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    Outcome,
    PositionUpdate,
    RecommendationStatus,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)

from ._mapping import Column, Index, Table, column, struct_columns, table
from ._monitor_tables import MONITOR_TABLES
from ._records import DeadLetter, PositionRecord

__all__ = [
    "ANALYSIS_TABLES",
    "LOGS_TABLES",
    "MAIN_TABLES",
    "OUTBOX",
    "RECOMMENDATION_STAGES",
    "RELAY_CURSORS",
    "TABLES",
    "TICK_IMPORTS",
    "WRITER_TABLES",
]

#: How far along its life each status puts a recommendation: pending, then rejected or
#: expired (it ended unexecuted), executed, closed. A recommendation's status is that
#: of its update of the furthest stage (the order updates arrive in, their event_id
#: or their ts never take it back); of updates of one stage, the latest by event_id.
#: Closed is final: a recommendation has one close (a second is refused). An
#: execution or close logged after a rejection or expiry still applies: the trade
#: exists.
RECOMMENDATION_STAGES: Final = {
    "pending": 0,
    "rejected": 1,
    "expired": 1,
    "executed": 2,
    "closed": 3,
}

#: A row id the database assigns.
_ROW_ID: Final = column("id", int, generated=True)


def _events(
    name: str,
    event: type[Event],
    *,
    indexes: tuple[Index, ...],
    checked: tuple[str, ...] = (),
) -> Table:
    """The table of an event with an ``event_id``: one row per event, a row id first,
    event_id unique."""
    return table(
        name,
        columns=(_ROW_ID, *struct_columns(event, checked=checked, unique=("event_id",))),
        primary_key=("id",),
        indexes=indexes,
        event=event,
    )


def _index(*columns: str, suffix: str | None = None, since: int = 2) -> Index:
    """An index (by default made by migration 2, named by its columns)."""
    return Index(suffix=suffix or "_".join(columns), columns=columns, since=since)


# ------------------------------------------------------------------------ main

# Clustered on (symbol, ts, seq): one B-tree insert per tick, and the "latest ticks of
# a symbol" query reads one contiguous range. seq is a per-database counter the
# writer assigns, so ticks that repeat a (symbol, ts) are all kept.
TICKS: Final = table(
    "unified_ticks",
    columns=(*struct_columns(Tick), column("seq", int)),
    order=("symbol", "ts", "seq", "bid", "ask", "last", "volume", "source"),
    primary_key=("symbol", "ts", "seq"),
    event=Tick,
    clustered=True,
)
#: The candle columns migration 5 adds: whether the bar is complete, its revisions, and
#: the timestamps of its first and last tick.
CANDLE_COLUMNS_V5: Final = {
    "complete": 5,
    "revision": 5,
    "first_tick_ts": 5,
    "last_tick_ts": 5,
}
# A candle is stored once per (symbol, timeframe, ts_open); a later one updates it.
CANDLES: Final = table(
    "candles",
    columns=struct_columns(Candle, since=CANDLE_COLUMNS_V5),
    primary_key=("symbol", "timeframe", "ts_open"),
    event=Candle,
    clustered=True,
    on_conflict="update",
)
EXECUTIONS: Final = _events(
    "trade_executions",
    TradeExecution,
    checked=("direction", "entry_price", "volume"),
    indexes=(_index("ticket"), _index("symbol", "ts")),
)
# The state of each position: rows the executions and the updates make (their SQL).
POSITIONS: Final = table(
    "trade_positions",
    columns=struct_columns(PositionRecord, checked=("direction", "status"), written=False),
    primary_key=("ticket",),
    indexes=(_index("status", "symbol", suffix="status"),),
)
POSITION_UPDATES: Final = _events(
    "position_updates",
    PositionUpdate,
    indexes=(_index("ticket", "ts"), _index("ticket", "event_id", suffix="ticket_event", since=3)),
)

# Migration 5, tick import: the ledger of ``tradebus import ticks``. One row per
# (file content, symbol), updated by the TickImport the import publishes before its
# first tick and after each chunk, in the same stream as the ticks: every line up to
# its position has its ticks stored.
TICK_IMPORTS: Final = table(
    "tick_imports",
    columns=struct_columns(
        TickImport,
        checked=("status",),
        since=dict.fromkeys(TickImport.__struct_fields__, 5),
    ),
    primary_key=("file_hash", "symbol"),
    event=TickImport,
    clustered=True,
    on_conflict="update",
    since=5,
)

# -------------------------------------------------------------------- analysis

# A recommendation and its current state: its updates set status ... updated_event_id
# (their SQL); the insert starts them as pending, updated by the recommendation itself.
_RECOMMENDATION_STATE: Final[tuple[Column, ...]] = (
    column("status", RecommendationStatus, default="pending", checked=True),
    column("ticket", int | None),
    column("outcome", Outcome | None, checked=True),
    column("realized_pnl", float | None),
    column("updated_ts", int, field="ts"),
    column("updated_event_id", str, constant=""),
)
# The state sits between the recommendation's content and its ts (as migration 1 put it).
_RECOMMENDATION_ORDER: Final = (
    "recommendation_id", "symbol", "direction", "entry_price", "stop_loss", "take_profit",
    "confidence", "reasoning", "timeframe", "source", "status", "ticket", "outcome",
    "realized_pnl", "ts", "updated_ts", "updated_event_id", "event_id",
)  # fmt: skip
RECOMMENDATIONS: Final = table(
    "trade_recommendations",
    columns=(
        *struct_columns(
            TradeRecommendation, checked=("direction", "confidence"), unique=("event_id",)
        ),
        *_RECOMMENDATION_STATE,
    ),
    order=_RECOMMENDATION_ORDER,
    primary_key=("recommendation_id",),
    indexes=(_index("status", "ts", suffix="status"), _index("symbol", "ts")),
    event=TradeRecommendation,
)
RECOMMENDATION_UPDATES: Final = _events(
    "recommendation_updates",
    RecommendationUpdate,
    indexes=(
        _index("recommendation_id", "ts", suffix="rec"),
        _index("recommendation_id", "event_id", suffix="rec_event", since=3),
    ),
)
ANALYSES: Final = _events("trade_analysis", TradeAnalysis, indexes=(_index("symbol", "ts"),))
RESULTS: Final = _events("analysis_results", AnalysisResult, indexes=(_index("kind", "ts"),))

# ------------------------------------------------------------------------ logs

MONITORING: Final = _events(
    "trade_monitoring", TradeMonitoring, indexes=(_index("ticket", "ts"), _index("ts"))
)
ALERTS: Final = _events(
    "trade_alerts", TradeAlert, checked=("alert_type", "severity"), indexes=(_index("ts"),)
)
API_LOGS: Final = _events("api_logs", ApiLog, indexes=(_index("ts"),))
HEALTH: Final = _events(
    "system_health", SystemHealth, checked=("status",), indexes=(_index("component", "ts"),)
)

# ------------------------------------------------------------ every database

#: The writer's own tables: events it could not store, and its counters.
#: The events this database's writer forwards to databases whose owner it does not
#: host, in commit order: each a relay of the owner's delivers, then (once the owner's
#: cursor has passed it) is trimmed. ``seq`` never takes a value again (a relay's
#: cursor stays meaningful after every row was trimmed); ``grp``: the ``seq`` of the
#: last row of the atomic group it belongs to (0: published alone).
OUTBOX: Final = table(
    "outbox",
    columns=(
        column("seq", int, generated=True, since=4),
        column("destination", str, since=4),
        column("topic", str, since=4),
        column("data", bytes, since=4),
        column("grp", int, default=0, since=4),
        column("ts", int, since=4),
    ),
    primary_key=("seq",),
    # A relay reads its database's rows only, even past a backlog of another's.
    indexes=(_index("destination", "seq", since=4),),
    autoincrement=True,
    since=4,
)
#: How far a relay has delivered each source's outbox into this database, committed
#: with the events: ``source`` names the outbox (its file and its identity), ``cursor``
#: is the last position committed, ``events`` how many it delivered in all.
RELAY_CURSORS: Final = table(
    "relay_cursors",
    columns=(
        column("source", str, since=4),
        column("cursor", int, since=4),
        column("events", int, since=4),
        column("ts", int, since=4),
    ),
    primary_key=("source",),
    clustered=True,
    since=4,
)

WRITER_TABLES: Final = (
    table(
        "dead_letters",
        columns=struct_columns(
            DeadLetter, written=False, generated=("id",), since={"origin": 4, "cursor": 4}
        ),
        primary_key=("id",),
        indexes=(_index("ts", since=1), _index("origin", "cursor", since=4)),
    ),
    table(
        "writer_state",
        columns=(column("key", str), column("value", int)),
        primary_key=("key",),
        clustered=True,
    ),
    OUTBOX,
    RELAY_CURSORS,
)

MAIN_TABLES: Final = (
    TICKS,
    CANDLES,
    EXECUTIONS,
    POSITIONS,
    POSITION_UPDATES,
    TICK_IMPORTS,
    *MONITOR_TABLES,
)
ANALYSIS_TABLES: Final = (RECOMMENDATIONS, RECOMMENDATION_UPDATES, ANALYSES, RESULTS)
LOGS_TABLES: Final = (MONITORING, ALERTS, API_LOGS, HEALTH)

#: Every table by name.
TABLES: Final[dict[str, Table]] = {
    t.name: t for t in (*MAIN_TABLES, *ANALYSIS_TABLES, *LOGS_TABLES, *WRITER_TABLES)
}
