"""What the trade endpoints answer: positions, executions and recommendations."""

from __future__ import annotations

from typing import Literal

from ._views_base import Iso, NextCursor, Ns, View

__all__ = [
    "ExecutionPage",
    "ExecutionView",
    "PositionPage",
    "PositionView",
    "RecommendationPage",
    "RecommendationView",
]


class PositionView(View, frozen=True, kw_only=True):
    """A position's current state.

    ``state``: ``open`` (status open or modified) or ``closed``. Closed: ``realized_pnl``
    and ``outcome``. Open: ``unrealized_pnl`` computed from the latest stored tick of
    its symbol, ``(mark_price - entry_price) * volume * contract_size`` for a BUY and
    ``(entry_price - mark_price) * volume * contract_size`` for a SELL, where
    ``mark_price`` is that tick's bid for a BUY (the price it would close at) and its
    ask for a SELL; null without a tick (or without entry price, volume, direction).
    ``contract_size``: the symbol's units per lot as the server is configured
    (``--contract-size``; 1 by default). ``reported_unrealized_pnl``: the last
    unrealized P&L the bot stored with the position (and ``realized_pnl`` the one its
    close carried), as reported, whatever the contract size.
    """

    ticket: int
    symbol: str
    direction: Literal["BUY", "SELL"] | None
    status: Literal["open", "modified", "closed"]
    state: Literal["open", "closed"]
    entry_price: float | None
    volume: float | None
    stop_loss: float | None
    take_profit: float | None
    current_price: float | None
    close_price: float | None
    realized_pnl: float | None
    outcome: Literal["win", "loss", "breakeven"] | None
    unrealized_pnl: float | None
    contract_size: float
    mark_price: float | None
    mark_ts: Ns | None
    mark_at: Iso | None
    reported_unrealized_pnl: float | None
    recommendation_id: str | None
    opened_ts: Ns | None
    opened_at: Iso | None
    closed_ts: Ns | None
    closed_at: Iso | None
    ts: Ns
    time: Iso


class PositionPage(View, frozen=True, kw_only=True):
    items: list[PositionView]
    next_cursor: NextCursor


class ExecutionView(View, frozen=True, kw_only=True):
    """An execution: the trade the broker filled."""

    ticket: int
    symbol: str
    direction: Literal["BUY", "SELL"]
    entry_price: float
    volume: float
    stop_loss: float | None
    take_profit: float | None
    recommendation_id: str | None
    comment: str
    event_id: str
    ts: Ns
    time: Iso


class ExecutionPage(View, frozen=True, kw_only=True):
    items: list[ExecutionView]
    next_cursor: NextCursor


class RecommendationView(View, frozen=True, kw_only=True):
    """A recommendation with its current status, and its result once closed:
    ``outcome`` and ``realized_pnl`` as the recommendation's close gave them, else as
    its position's close did (``pnl_from``: ``recommendation``, ``position``, or null
    while it has none)."""

    recommendation_id: str
    symbol: str
    direction: Literal["BUY", "SELL"]
    entry_price: float
    stop_loss: float
    take_profit: float
    confidence: float
    reasoning: str
    timeframe: str
    source: str
    status: Literal["pending", "executed", "rejected", "expired", "closed"]
    ticket: int | None
    outcome: Literal["win", "loss", "breakeven"] | None
    realized_pnl: float | None
    pnl_from: Literal["recommendation", "position"] | None
    ts: Ns
    time: Iso
    updated_ts: Ns
    updated_at: Iso


class RecommendationPage(View, frozen=True, kw_only=True):
    items: list[RecommendationView]
    next_cursor: NextCursor
