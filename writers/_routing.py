"""Which database stores which events: its name, file, topics and event types.

Routing says nothing of tables or SQL: a store of any kind (SQLite today) subscribes
to a route's topics and stores its event types, in the order given (a batch's events
of an earlier type are stored before those of a later one: an execution opens the
position its updates then change).
"""

from __future__ import annotations

import dataclasses
from typing import Final

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
)

__all__ = ["ANALYSIS_ROUTE", "LOGS_ROUTE", "MAIN_ROUTE", "Route"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Route:
    """One database's share of the event stream.

    :param name: the database's short name (``main``, ``analysis``, ``logs``).
    :param filename: the default file name in the data directory.
    :param topics: the topic patterns its writer subscribes to.
    :param events: the event types whose home it is, in the order a batch stores them.
    """

    name: str
    filename: str
    topics: tuple[str, ...]
    events: tuple[type[Event], ...]


MAIN_ROUTE: Final = Route(
    name="main",
    filename="unified_tick_pipeline.db",
    topics=("market.>", "trade.>"),
    events=(
        Tick,
        Candle,
        TradeExecution,
        PositionUpdate,
        TickImport,
        ExitRule,
        OcoGroup,
        MonitorMark,
    ),
)
ANALYSIS_ROUTE: Final = Route(
    name="analysis",
    filename="analysis_data.db",
    topics=("analysis.>",),
    events=(TradeRecommendation, RecommendationUpdate, TradeAnalysis, AnalysisResult),
)
LOGS_ROUTE: Final = Route(
    name="logs",
    filename="system_logs.db",
    topics=("logs.>",),
    events=(TradeMonitoring, TradeAlert, ApiLog, SystemHealth),
)
