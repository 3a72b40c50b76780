"""Typed records read back from the databases (rows that are not events)."""

from __future__ import annotations

import msgspec

from schemas import Direction, PositionStatus

__all__ = ["DeadLetter", "PositionRecord", "RecommendationRecord"]


class PositionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The current state of one position (a row of ``trade_positions``, whose mapping
    is declared by these fields: see ``writers._tables``)."""

    ticket: int
    symbol: str
    direction: Direction | None
    status: PositionStatus
    entry_price: float | None
    volume: float | None
    stop_loss: float | None
    take_profit: float | None
    current_price: float | None
    unrealized_pnl: float | None
    close_price: float | None
    realized_pnl: float | None
    recommendation_id: str | None
    opened_ts: int | None
    closed_ts: int | None
    ts: int
    event_id: str


class RecommendationRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A recommendation with its current status (a row of ``trade_recommendations``)."""

    recommendation_id: str
    symbol: str
    direction: str
    entry_price: float
    stop_loss: float
    take_profit: float
    confidence: float
    reasoning: str
    timeframe: str
    source: str
    status: str
    ticket: int | None
    outcome: str | None
    realized_pnl: float | None
    ts: int
    updated_ts: int
    event_id: str


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event that could not be stored, with the error (a row of ``dead_letters``,
    whose mapping is declared by these fields)."""

    id: int
    topic: str
    seq: int | None
    event_type: str | None
    data: bytes
    error: str
    ts: int
    #: For an event a relay delivered: the source's outbox it came from, and its
    #: position there (None otherwise).
    origin: str | None = None
    cursor: int | None = None
