"""One OHLCV bar being built: the ticks it takes, the bars it folds in (a longer
timeframe's bar is the fold of its base bars), and the candle it is, or is read from.

A bar's open and close are the prices of its earliest and latest tick by timestamp (of
equal timestamps, the one that arrived first opens and the one that arrived last
closes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from schemas import Candle, Timeframe

__all__ = ["Bar"]

_NEVER = 2**63 - 1


class Bar:
    """One bar being built (``count`` 0: empty, an accumulator waiting for bars).

    ``folded_count``/``folded_volume``: what of this base bar the longer timeframes'
    bars hold already (a bar restored after a restart was stored in them too).
    ``exact``: whether ``first_ts``/``last_ts`` are known (bars stored before they were
    recorded have neither).
    """

    __slots__ = (
        "close",
        "count",
        "end",
        "exact",
        "first_ts",
        "folded_count",
        "folded_volume",
        "high",
        "last_ts",
        "low",
        "open",
        "revision",
        "ts_open",
        "volume",
    )

    def __init__(self, ts_open: int, end: int) -> None:
        self.ts_open = ts_open
        self.end = end
        self.open = self.close = 0.0
        self.high = -math.inf
        self.low = math.inf
        self.volume = 0.0
        self.count = 0
        self.first_ts = _NEVER
        self.last_ts = -1
        self.revision = 0
        self.folded_count = 0
        self.folded_volume = 0.0
        self.exact = True

    def add(self, ts: int, price: float, volume: float) -> None:
        """Take one tick (of this bar's interval)."""
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        if ts < self.first_ts:
            self.first_ts, self.open = ts, price
        if ts >= self.last_ts:
            self.last_ts, self.close = ts, price
        self.volume += volume
        self.count += 1

    def merge(self, other: Bar) -> None:
        """Take the ticks of ``other`` (a bar of this interval, arrived after those here)
        that this bar does not hold yet."""
        if other.count == other.folded_count and other.volume == other.folded_volume:
            if other.count:  # all held already: only the extremes may be new
                self._extremes(other)
            return
        self._extremes(other)
        self.volume += other.volume - other.folded_volume
        self.count += other.count - other.folded_count

    def _extremes(self, other: Bar) -> None:
        if other.high > self.high:
            self.high = other.high
        if other.low < self.low:
            self.low = other.low
        if other.first_ts < self.first_ts:
            self.first_ts, self.open = other.first_ts, other.open
        if other.last_ts >= self.last_ts:
            self.last_ts, self.close = other.last_ts, other.close
        self.exact = self.exact and other.exact

    def copy(self) -> Bar:
        bar = Bar(self.ts_open, self.end)
        for name in Bar.__slots__:
            setattr(bar, name, getattr(self, name))
        bar.folded_count, bar.folded_volume = 0, 0.0
        return bar

    def candle(
        self, symbol: str, timeframe: Timeframe, ts: int, *, complete: bool, revision: int
    ) -> Candle:
        exact = self.exact and self.count > 0
        return Candle(
            symbol=symbol,
            timeframe=timeframe,
            ts_open=self.ts_open,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            tick_count=self.count,
            ts=ts,
            complete=complete,
            revision=revision,
            first_tick_ts=self.first_ts if exact else None,
            last_tick_ts=self.last_ts if exact else None,
        )

    @classmethod
    def of_row(cls, row: Sequence[Any], length: int) -> Bar:
        """A bar from a stored candle: ``(ts_open, open, high, low, close, volume,
        tick_count, revision, first_tick_ts, last_tick_ts)``."""
        ts_open, open_, high, low, close, volume, count, revision, first, last = row
        bar = cls(int(ts_open), int(ts_open) + length)
        bar.open, bar.high, bar.low, bar.close = float(open_), float(high), float(low), float(close)
        bar.volume, bar.count, bar.revision = float(volume), int(count), int(revision)
        if first is None or last is None:
            # Stored before tick times were: a late tick changes neither open nor close.
            bar.exact = False
            bar.first_ts, bar.last_ts = bar.ts_open, bar.end - 1
        else:
            bar.first_ts, bar.last_ts = int(first), int(last)
        return bar
