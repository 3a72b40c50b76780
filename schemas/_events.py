"""The events of a trading system, as frozen, tagged, keyword-only msgspec Structs.

Every event encodes as a msgpack array ``[tag, field, field, ...]`` (``array_like``):
compact, and a batch of them decodes straight into rows. Fields are therefore only
ever appended, with defaults, so that older encoded events still decode.
"""

from __future__ import annotations

import time
from typing import Annotated, ClassVar

import msgspec

from ._ids import new_event_id
from ._symbols import tick_topics
from ._topics import symbol_token
from ._types import (
    AlertType,
    Confidence,
    Count,
    Direction,
    HealthStatus,
    HttpMethod,
    HttpStatus,
    ImportStatus,
    Json,
    LongText,
    Money,
    Name,
    NonNegative,
    Outcome,
    PositionStatus,
    Positive,
    Price,
    RecommendationStatus,
    Severity,
    ShortText,
    Symbol,
    Ticket,
    Timeframe,
    Timestamp,
    UrlPath,
)

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

_now = time.time_ns
_id = msgspec.field(default_factory=new_event_id)

#: The cached topic of a tick's symbol (bound once: a method lookup per tick costs).
_tick_topic = tick_topics.get


class Event(msgspec.Struct, frozen=True, tag=True, kw_only=True, array_like=True):
    """Base of every event: immutable, tagged by class name, keyword-only."""

    #: The first token of the event's topic, and so the family it belongs to.
    topic_prefix: ClassVar[str] = ""

    @property
    def topic(self) -> str:
        """The dotted NATS-style topic this event is published on."""
        raise NotImplementedError  # pragma: no cover - every concrete event overrides it


# --------------------------------------------------------------------------- market


class Tick(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A top-of-book quote (and optionally the last trade) for one symbol."""

    topic_prefix: ClassVar[str] = "market.tick"

    symbol: Symbol
    bid: Price
    ask: Price
    last: Price | None = None
    volume: NonNegative = 0.0
    source: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)

    @property
    def topic(self) -> str:
        topic = _tick_topic(self.symbol)
        if topic is None:
            topic = f"market.tick.{symbol_token(self.symbol)}"
        return topic


class Candle(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """An OHLCV bar of one timeframe, opened at ``ts_open``."""

    topic_prefix: ClassVar[str] = "market.candle"

    symbol: Symbol
    timeframe: Timeframe
    ts_open: Timestamp
    open: Price
    high: Price
    low: Price
    close: Price
    volume: NonNegative = 0.0
    tick_count: Count = 0
    ts: Timestamp = msgspec.field(default_factory=_now)
    #: False while its interval may still take ticks: the bar in progress, or the one
    #: in progress when the candle service stopped (it completes it when it restarts).
    complete: bool = True
    #: How many times the bar was changed after it was first stored complete (by a
    #: late tick, or a rebuild from the stored ticks).
    revision: Count = 0
    #: The timestamps of its first and last tick (None: not known, as for bars made
    #: before they were recorded); a late tick becomes the open or the close by them.
    first_tick_ts: Timestamp | None = None
    last_tick_ts: Timestamp | None = None

    @property
    def topic(self) -> str:
        return f"market.candle.{self.timeframe}.{symbol_token(self.symbol)}"


class TickImport(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """How far an import of a file of historical ticks got (``tradebus import ticks``).

    One row per (file content, symbol), published before the import's first tick and
    after each chunk of its ticks, in the same stream: the ticks of every line up to
    the committed row's ``position`` are stored. An import resumes after it, and
    skips a file already ``complete``.
    """

    topic_prefix: ClassVar[str] = "market.tick_import"

    #: The SHA-256 of the file's content (hex): the same file under any name.
    file_hash: Name
    symbol: Symbol
    #: The file's name as given to the import (informational).
    filename: LongText = ""
    #: The format it was read as: csv, histdata, truefx or mt5.
    format: Name
    #: The last line of the file whose ticks are committed (1 is the first line).
    position: Count = 0
    #: The byte offset just after that line.
    byte_offset: Count = 0
    #: Ticks committed so far, and bad rows skipped so far.
    ticks: Count = 0
    skipped: Count = 0
    first_ts: Timestamp | None = None
    last_ts: Timestamp | None = None
    status: ImportStatus = "partial"
    ts: Timestamp = msgspec.field(default_factory=_now)

    @property
    def topic(self) -> str:
        return f"market.tick_import.{symbol_token(self.symbol)}"


# -------------------------------------------------------------------------- trading


class TradeExecution(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A trade opened at the broker (it opens the position ``ticket``)."""

    topic_prefix: ClassVar[str] = "trade.execution"

    ticket: Ticket
    symbol: Symbol
    direction: Direction
    entry_price: Price
    volume: Positive
    stop_loss: Price | None = None
    take_profit: Price | None = None
    recommendation_id: Name | None = None
    comment: LongText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"trade.execution.{symbol_token(self.symbol)}"


class PositionUpdate(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A change in the state of an open position: price, stops, or its close."""

    topic_prefix: ClassVar[str] = "trade.position"

    ticket: Ticket
    symbol: Symbol
    status: PositionStatus
    current_price: Price
    volume: Positive | None = None
    stop_loss: Price | None = None
    take_profit: Price | None = None
    unrealized_pnl: Money | None = None
    close_price: Price | None = None
    realized_pnl: Money | None = None
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"trade.position.{symbol_token(self.symbol)}"


# ------------------------------------------------------------------------- analysis


class TradeRecommendation(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """An analyst's (or agent's) proposal for a trade."""

    topic_prefix: ClassVar[str] = "analysis.recommendation"

    recommendation_id: Name = _id
    symbol: Symbol
    direction: Direction
    entry_price: Price
    stop_loss: Price
    take_profit: Price
    confidence: Confidence
    reasoning: LongText = ""
    timeframe: ShortText = ""
    source: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"analysis.recommendation.{symbol_token(self.symbol)}"


class RecommendationUpdate(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A recommendation moved to a new status (executed, closed with an outcome, ...)."""

    topic_prefix: ClassVar[str] = "analysis.recommendation_update"

    recommendation_id: Name
    status: RecommendationStatus
    ticket: Ticket | None = None
    outcome: Outcome | None = None
    realized_pnl: Money | None = None
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"analysis.recommendation_update.{self.status}"


class TradeAnalysis(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A market analysis of one symbol and timeframe."""

    topic_prefix: ClassVar[str] = "analysis.trade_analysis"

    symbol: Symbol
    timeframe: Name
    regime: Name
    confluence_score: float
    indicators: Json = msgspec.field(default_factory=dict)
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"analysis.trade_analysis.{symbol_token(self.symbol)}"


class AnalysisResult(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Any other result an analysis produces, as a JSON-like payload."""

    topic_prefix: ClassVar[str] = "analysis.result"

    kind: Name
    payload: Json = msgspec.field(default_factory=dict)
    symbol: Symbol | None = None
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"analysis.result.{symbol_token(self.kind)}"


# ----------------------------------------------------------------------------- logs


class TradeMonitoring(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Something observed about a live trade (stop loss hit, trailing stop moved, ...)."""

    topic_prefix: ClassVar[str] = "logs.monitoring"

    ticket: Ticket
    symbol: Symbol
    monitoring_type: Name
    status: Name
    details: LongText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"logs.monitoring.{symbol_token(self.symbol)}"


class TradeAlert(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A risk, profit or system alert."""

    topic_prefix: ClassVar[str] = "logs.alert"

    alert_type: AlertType
    severity: Severity
    message: LongText
    symbol: Symbol | None = None
    ticket: Ticket | None = None
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"logs.alert.{self.severity}"


class ApiLog(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """One request served by an API."""

    topic_prefix: ClassVar[str] = "logs.api"

    method: HttpMethod
    path: UrlPath
    status_code: HttpStatus
    duration_ms: NonNegative
    client: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"logs.api.{symbol_token(self.method)}"


class SystemHealth(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A health beat of one component."""

    topic_prefix: ClassVar[str] = "logs.health"

    component: Name
    status: HealthStatus
    details: Json = msgspec.field(default_factory=dict)
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"logs.health.{symbol_token(self.component)}"


# ------------------------------------------------------------- position monitor


class ExitRule(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """The intelligent exits of position ``ticket``: a trailing stop (by a price
    distance, or by a multiple of the ATR of ``atr_timeframe``), optionally active
    only from ``trailing_activation`` of profit (a price distance from the entry), and
    a move of the stop to ``entry + breakeven_offset`` once the profit reaches
    ``breakeven_trigger``. The latest rule of a ticket (by ``event_id``) is in force;
    one with neither a trailing stop nor a break-even move clears them. With both a
    distance and an ATR multiple, the distance is used."""

    topic_prefix: ClassVar[str] = "trade.exit_rule"

    ticket: Ticket
    symbol: Symbol
    trailing_distance: Positive | None = None
    trailing_atr: Positive | None = None
    atr_timeframe: Timeframe = "M5"
    atr_period: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 14
    trailing_activation: NonNegative | None = None
    trailing_step: NonNegative = 0.0
    breakeven_trigger: Positive | None = None
    breakeven_offset: float = 0.0
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"trade.exit_rule.{symbol_token(self.symbol)}"


class OcoGroup(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Tickets (pending orders or positions) that cancel each other: once one fills
    or closes, the others must be cancelled."""

    topic_prefix: ClassVar[str] = "trade.oco"

    group_id: Name
    tickets: Annotated[list[Ticket], msgspec.Meta(min_length=2, max_length=64)]
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"trade.oco.{symbol_token(self.group_id)}"


class MonitorMark(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """What the position monitor fired once for ``(ticket, kind, level)`` (a stop or
    target hit, a risk or profit alert, an OCO consequence), with the alert it
    raised: remembered so that it never fires again, also after a restart."""

    topic_prefix: ClassVar[str] = "trade.monitor_mark"

    ticket: Ticket
    symbol: Symbol
    kind: Name
    level: float
    severity: Severity
    message: LongText
    price: Price | None = None
    ref: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=_now)
    event_id: Name = _id

    @property
    def topic(self) -> str:
        return f"trade.monitor_mark.{symbol_token(self.symbol)}"


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
