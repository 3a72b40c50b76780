"""Trading events, on ``trade.*`` topics: the trades the broker filled and the states
of their positions, and what the position monitor keeps of them (intelligent exits,
OCO groups, the marks of what it fired)."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from ._event_base import NEW_ID, Event
from ._time import now_ns
from ._topics import symbol_token
from ._types import (
    Direction,
    LongText,
    Money,
    Name,
    NonNegative,
    PositionStatus,
    Positive,
    Price,
    Severity,
    ShortText,
    Symbol,
    Ticket,
    Timeframe,
    Timestamp,
)

__all__ = ["ExitRule", "MonitorMark", "OcoGroup", "PositionUpdate", "TradeExecution"]


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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"trade.position.{symbol_token(self.symbol)}"


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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"trade.exit_rule.{symbol_token(self.symbol)}"


class OcoGroup(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Tickets (pending orders or positions) that cancel each other: once one fills
    or closes, the others must be cancelled."""

    topic_prefix: ClassVar[str] = "trade.oco"

    group_id: Name
    tickets: Annotated[list[Ticket], msgspec.Meta(min_length=2, max_length=64)]
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

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
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"trade.monitor_mark.{symbol_token(self.symbol)}"
