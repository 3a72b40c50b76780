"""Intelligent exits, as pure functions of a position and a price: the break-even
move and the trailing stop (by distance or ATR multiple); and the ATR of a symbol's
closed candles."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable

from schemas import Candle, Direction, ExitRule

__all__ = ["AtrBook", "StopMove", "next_stop", "sign_of"]


def sign_of(direction: Direction | None) -> float:
    """+1 for a BUY (profit when the price rises), -1 for a SELL."""
    return -1.0 if direction == "SELL" else 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class StopMove:
    """Where an exit rule moves a stop: ``kind`` is ``breakeven_set`` or
    ``trailing_stop_moved``."""

    stop: float
    kind: str


def next_stop(
    *,
    rule: ExitRule,
    direction: Direction | None,
    entry: float,
    stop: float | None,
    price: float,
    atr: float | None,
) -> StopMove | None:
    """The stop ``rule`` sets at ``price`` (the side of the book the position closes
    on: the bid of a BUY, the ask of a SELL), or None if it stays.

    The stop only ever moves in the position's favour, and never to or past the
    price (that would close the position at once). Of the break-even move and the
    trailing stop, the one further in the position's favour wins.
    """
    sign = sign_of(direction)
    profit = (price - entry) * sign
    best: StopMove | None = None
    if rule.breakeven_trigger is not None and profit >= rule.breakeven_trigger:
        level = entry + rule.breakeven_offset * sign
        if _better(level, stop, sign, 0.0) and (price - level) * sign > 0:
            best = StopMove(stop=level, kind="breakeven_set")
    distance = rule.trailing_distance
    if distance is None and rule.trailing_atr is not None and atr is not None:
        distance = rule.trailing_atr * atr
    activation = rule.trailing_activation
    if distance is not None and distance > 0 and (activation is None or profit >= activation):
        level = price - distance * sign
        current = best.stop if best is not None else stop
        step = rule.trailing_step if best is None else 0.0
        if _better(level, current, sign, step):
            best = StopMove(stop=level, kind="trailing_stop_moved")
    return best


def _better(level: float, stop: float | None, sign: float, step: float) -> bool:
    """Whether ``level`` is further in the position's favour than ``stop`` by more than
    nothing, and by ``step`` at least (a level beyond the range of a float, from
    prices and distances near it, is no stop: never)."""
    if not math.isfinite(level):
        return False
    if stop is None:
        return True
    gain = (level - stop) * sign
    return gain > 0 and gain >= step


class AtrBook:
    """The closed candles of each (symbol, timeframe) the rules need, and their ATR.

    A candle of a ``ts_open`` seen before replaces it (a revision); the newest candle
    is the one still forming and does not count. The ATR of ``period`` is the mean
    true range of the ``period`` closed candles before it (each true range against
    the close of the candle before; the first closed candle's is its high - low).
    """

    def __init__(self, keep: int = 200) -> None:
        self._keep = keep
        self._bars: dict[tuple[str, str], dict[int, Candle]] = {}

    def wants(self, symbol: str, timeframe: str) -> bool:
        return (symbol, timeframe) in self._bars

    def track(self, symbol: str, timeframe: str) -> None:
        self._bars.setdefault((symbol, timeframe), {})

    def add(self, candles: Iterable[Candle]) -> None:
        for candle in candles:
            bars = self._bars.get((candle.symbol, candle.timeframe))
            if bars is None:
                continue
            bars[candle.ts_open] = candle
            if len(bars) > self._keep:
                del bars[min(bars)]

    def atr(self, symbol: str, timeframe: str, period: int) -> float | None:
        """The ATR, or None while fewer than ``period`` closed candles are known."""
        bars = self._bars.get((symbol, timeframe))
        if not bars or len(bars) < period + 1:
            return None
        ordered = [bars[t] for t in sorted(bars)][:-1]  # the newest is still forming
        window = ordered[-(period + 1) :]
        ranges: list[float] = []
        for before, bar in itertools.pairwise(window):
            ranges.append(
                max(bar.high - bar.low, abs(bar.high - before.close), abs(bar.low - before.close))
            )
        if len(window) == period:  # no candle before the first: its own range
            ranges.insert(0, window[0].high - window[0].low)
        return sum(ranges[-period:]) / period
