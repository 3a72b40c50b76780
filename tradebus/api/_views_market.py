"""What the market endpoints answer: stored ticks, candles, and the symbols with ticks."""

from __future__ import annotations

from ._views_base import Iso, NextCursor, Ns, View

__all__ = ["CandlePage", "CandleView", "SymbolPage", "SymbolView", "TickPage", "TickView"]


class TickView(View, frozen=True, kw_only=True):
    """A stored tick (newest first unless ``order=asc``)."""

    symbol: str
    bid: float
    ask: float
    last: float | None
    volume: float
    source: str
    ts: Ns
    time: Iso


class TickPage(View, frozen=True, kw_only=True):
    items: list[TickView]
    next_cursor: NextCursor


class CandleView(View, frozen=True, kw_only=True):
    """A bar: ``complete`` false while its interval is in progress (it may still
    change: ``revision`` counts its changes)."""

    symbol: str
    timeframe: str
    ts_open: Ns
    opened_at: Iso
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int
    complete: bool
    revision: int
    first_tick_ts: Ns | None
    first_tick_at: Iso | None
    last_tick_ts: Ns | None
    last_tick_at: Iso | None
    ts: Ns
    time: Iso


class CandlePage(View, frozen=True, kw_only=True):
    items: list[CandleView]
    next_cursor: NextCursor


class SymbolView(View, frozen=True, kw_only=True):
    """A symbol with stored ticks, and its latest tick."""

    symbol: str
    bid: float
    ask: float
    last: float | None
    ts: Ns
    time: Iso


class SymbolPage(View, frozen=True, kw_only=True):
    items: list[SymbolView]
    next_cursor: NextCursor
