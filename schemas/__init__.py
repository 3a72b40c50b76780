"""Event schemas of tradebus: msgspec Structs, validation, topics, encoding.

Every event is a frozen, tagged, keyword-only msgspec Struct with ``ts`` in integer
nanoseconds since the Unix epoch (UTC). Trade-lifecycle events carry an ``event_id``
(a UUIDv7 string, unique and increasing within a process; validation refuses any
other form).
"""

from __future__ import annotations

from ._codec import decode as decode
from ._codec import decode_many as decode_many
from ._codec import encode as encode
from ._codec import pack_array as pack_array
from ._events import LIFECYCLE_EVENTS as LIFECYCLE_EVENTS
from ._events import AnalysisResult as AnalysisResult
from ._events import AnyEvent as AnyEvent
from ._events import ApiLog as ApiLog
from ._events import Candle as Candle
from ._events import Event as Event
from ._events import ExitRule as ExitRule
from ._events import MonitorMark as MonitorMark
from ._events import OcoGroup as OcoGroup
from ._events import PositionUpdate as PositionUpdate
from ._events import RecommendationUpdate as RecommendationUpdate
from ._events import SystemHealth as SystemHealth
from ._events import Tick as Tick
from ._events import TickImport as TickImport
from ._events import TradeAlert as TradeAlert
from ._events import TradeAnalysis as TradeAnalysis
from ._events import TradeExecution as TradeExecution
from ._events import TradeMonitoring as TradeMonitoring
from ._events import TradeRecommendation as TradeRecommendation
from ._exceptions import InvalidEvent as InvalidEvent
from ._fields import EVENT_TYPES as EVENT_TYPES
from ._ids import EVENT_ID_FORMAT as EVENT_ID_FORMAT
from ._ids import check_event_id as check_event_id
from ._ids import derived_event_id as derived_event_id
from ._ids import event_id_ts as event_id_ts
from ._ids import is_event_id as is_event_id
from ._ids import new_event_id as new_event_id
from ._ids import observe_event_id as observe_event_id
from ._symbols import check_symbol as check_symbol
from ._time import format_ts as format_ts
from ._time import now_ns as now_ns
from ._time import ts_to_datetime as ts_to_datetime
from ._topics import symbol_token as symbol_token
from ._topics import token_symbol as token_symbol
from ._types import TIMEFRAME_SECONDS as TIMEFRAME_SECONDS
from ._types import AlertType as AlertType
from ._types import Direction as Direction
from ._types import HealthStatus as HealthStatus
from ._types import ImportStatus as ImportStatus
from ._types import Outcome as Outcome
from ._types import PositionStatus as PositionStatus
from ._types import RecommendationStatus as RecommendationStatus
from ._types import Severity as Severity
from ._types import Timeframe as Timeframe
from ._validate import MAX_EVENT_BYTES as MAX_EVENT_BYTES
from ._validate import admit as admit
from ._validate import build as build
from ._validate import from_dict as from_dict
from ._validate import validate as validate

__all__ = [
    "EVENT_ID_FORMAT",
    "EVENT_TYPES",
    "LIFECYCLE_EVENTS",
    "MAX_EVENT_BYTES",
    "TIMEFRAME_SECONDS",
    "AlertType",
    "AnalysisResult",
    "AnyEvent",
    "ApiLog",
    "Candle",
    "Direction",
    "Event",
    "ExitRule",
    "HealthStatus",
    "ImportStatus",
    "InvalidEvent",
    "MonitorMark",
    "OcoGroup",
    "Outcome",
    "PositionStatus",
    "PositionUpdate",
    "RecommendationStatus",
    "RecommendationUpdate",
    "Severity",
    "SystemHealth",
    "Tick",
    "TickImport",
    "Timeframe",
    "TradeAlert",
    "TradeAnalysis",
    "TradeExecution",
    "TradeMonitoring",
    "TradeRecommendation",
    "admit",
    "build",
    "check_event_id",
    "check_symbol",
    "decode",
    "decode_many",
    "derived_event_id",
    "encode",
    "event_id_ts",
    "format_ts",
    "from_dict",
    "is_event_id",
    "new_event_id",
    "now_ns",
    "observe_event_id",
    "pack_array",
    "symbol_token",
    "token_symbol",
    "ts_to_datetime",
    "validate",
]
