"""The events of a trading system, as frozen, tagged, keyword-only msgspec Structs: the
union of them all (:data:`AnyEvent`), those that carry an ``event_id``, and each event
type, defined by family (market, trade, analysis, logs) in modules of their own.
"""

from __future__ import annotations

from ._event_base import Event
from ._events_analysis import (
    AnalysisResult,
    RecommendationUpdate,
    TradeAnalysis,
    TradeRecommendation,
)
from ._events_logs import ApiLog, SystemHealth, TradeAlert, TradeMonitoring
from ._events_market import Candle, Tick, TickImport
from ._events_trade import ExitRule, MonitorMark, OcoGroup, PositionUpdate, TradeExecution

__all__ = [
    "LIFECYCLE_EVENTS",
    "AnalysisResult",
    "AnyEvent",
    "ApiLog",
    "Candle",
    "Event",
    "ExitRule",
    "MonitorMark",
    "OcoGroup",
    "PositionUpdate",
    "RecommendationUpdate",
    "SystemHealth",
    "Tick",
    "TickImport",
    "TradeAlert",
    "TradeAnalysis",
    "TradeExecution",
    "TradeMonitoring",
    "TradeRecommendation",
]

AnyEvent = (
    Tick
    | Candle
    | TradeExecution
    | PositionUpdate
    | TradeRecommendation
    | RecommendationUpdate
    | TradeAnalysis
    | AnalysisResult
    | TradeMonitoring
    | TradeAlert
    | ApiLog
    | SystemHealth
    | TickImport
    | ExitRule
    | OcoGroup
    | MonitorMark
)

#: The event types that carry an ``event_id`` (all but market data).
LIFECYCLE_EVENTS: tuple[type[Event], ...] = (
    TradeExecution,
    PositionUpdate,
    TradeRecommendation,
    RecommendationUpdate,
    TradeAnalysis,
    AnalysisResult,
    TradeMonitoring,
    TradeAlert,
    ApiLog,
    SystemHealth,
    ExitRule,
    OcoGroup,
    MonitorMark,
)
