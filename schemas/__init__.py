"""Event schemas of tradebus: msgspec Structs, validation, topics, encoding.

Every event is a frozen, tagged, keyword-only msgspec Struct with ``ts`` in integer
nanoseconds since the Unix epoch (UTC). Trade-lifecycle events carry an ``event_id``
(a UUIDv7 string, unique and increasing within a process).
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
from ._events import PositionUpdate as PositionUpdate
from ._events import RecommendationUpdate as RecommendationUpdate
from ._events import SystemHealth as SystemHealth
from ._events import Tick as Tick
from ._events import TradeAlert as TradeAlert
from ._events import TradeAnalysis as TradeAnalysis
from ._events import TradeExecution as TradeExecution
from ._events import TradeMonitoring as TradeMonitoring
from ._events import TradeRecommendation as TradeRecommendation
from ._exceptions import InvalidEvent as InvalidEvent
from ._ids import event_id_ts as event_id_ts
from ._ids import new_event_id as new_event_id
from ._time import format_ts as format_ts
from ._time import now_ns as now_ns
from ._time import ts_to_datetime as ts_to_datetime
from ._topics import symbol_token as symbol_token
from ._topics import token_symbol as token_symbol
from ._types import Direction as Direction
from ._types import Timeframe as Timeframe
from ._validate import EVENT_TYPES as EVENT_TYPES
from ._validate import admit as admit
from ._validate import build as build
from ._validate import check_symbol as check_symbol
from ._validate import from_dict as from_dict
from ._validate import validate as validate

__all__ = [
    "EVENT_TYPES",
    "LIFECYCLE_EVENTS",
    "AnalysisResult",
    "AnyEvent",
    "ApiLog",
    "Candle",
    "Direction",
    "Event",
    "InvalidEvent",
    "PositionUpdate",
    "RecommendationUpdate",
    "SystemHealth",
    "Tick",
    "Timeframe",
    "TradeAlert",
    "TradeAnalysis",
    "TradeExecution",
    "TradeMonitoring",
    "TradeRecommendation",
    "admit",
    "build",
    "check_symbol",
    "decode",
    "decode_many",
    "encode",
    "event_id_ts",
    "format_ts",
    "from_dict",
    "new_event_id",
    "now_ns",
    "pack_array",
    "symbol_token",
    "token_symbol",
    "ts_to_datetime",
    "validate",
]
