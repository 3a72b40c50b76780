"""Analysis events, on ``analysis.*`` topics: trade recommendations and their status
changes, market analyses and any other analysis result."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from ._event_base import NEW_ID, Event
from ._time import now_ns
from ._topics import symbol_token
from ._types import (
    Confidence,
    Direction,
    Json,
    LongText,
    Money,
    Name,
    Outcome,
    Price,
    RecommendationStatus,
    ShortText,
    Symbol,
    Ticket,
    Timestamp,
)

__all__ = ["AnalysisResult", "RecommendationUpdate", "TradeAnalysis", "TradeRecommendation"]


class TradeRecommendation(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """An analyst's (or agent's) proposal for a trade."""

    topic_prefix: ClassVar[str] = "analysis.recommendation"

    recommendation_id: Name = NEW_ID
    symbol: Symbol
    direction: Direction
    entry_price: Price
    stop_loss: Price
    take_profit: Price
    confidence: Confidence
    reasoning: LongText = ""
    timeframe: ShortText = ""
    source: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"analysis.trade_analysis.{symbol_token(self.symbol)}"


class AnalysisResult(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Any other result an analysis produces, as a JSON-like payload."""

    topic_prefix: ClassVar[str] = "analysis.result"

    kind: Name
    payload: Json = msgspec.field(default_factory=dict)
    symbol: Symbol | None = None
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"analysis.result.{symbol_token(self.kind)}"
