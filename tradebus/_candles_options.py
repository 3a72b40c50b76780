"""The candle service's options, checked once: its timeframes and the price it charts."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Final, Literal, get_args

from schemas import TIMEFRAME_SECONDS, Tick, Timeframe
from writers import InvalidOption

__all__ = [
    "DEFAULT_TIMEFRAMES",
    "PRICES",
    "CandlePrice",
    "check_candle_options",
    "check_duration",
    "price_getter",
]

#: The price a candle charts: the bid (MetaTrader's convention), the ask, their
#: midpoint, or the last trade (ticks without one are skipped).
CandlePrice = Literal["bid", "ask", "mid", "last"]
PRICES: Final[tuple[str, ...]] = get_args(CandlePrice)

#: The timeframes a node builds when it is not told otherwise.
DEFAULT_TIMEFRAMES: Final[tuple[Timeframe, ...]] = ("M1", "M5", "M15", "H1", "D1")

_ALLOWED: Final = ", ".join(TIMEFRAME_SECONDS)


def check_candle_options(
    timeframes: Iterable[str] | None = DEFAULT_TIMEFRAMES, price: str = "bid"
) -> tuple[tuple[Timeframe, ...], CandlePrice]:
    """The timeframes (shortest first, each once) and the price, or a clear error.

    ``timeframes`` empty (or None) disables the candles: the result's tuple is empty.

    :raises InvalidOption: (a ``TradebusError`` and a ``ValueError``) naming the option,
        the value and what is allowed, for an unknown timeframe or price, or
        timeframes given as one string.
    """
    if isinstance(timeframes, str | bytes):
        raise InvalidOption(
            "candles", timeframes, f"a list of timeframes (of {_ALLOWED}), not one string"
        )
    try:
        given = list(timeframes or ())
    except TypeError:
        raise InvalidOption(
            "candles", timeframes, f"a list of timeframes (of {_ALLOWED}), or None"
        ) from None
    chosen: list[Timeframe] = []
    for tf in given:
        if not isinstance(tf, str) or tf not in TIMEFRAME_SECONDS:
            raise InvalidOption("candles", tf, f"one of the timeframes {_ALLOWED}")
        if tf not in chosen:
            chosen.append(tf)  # type: ignore[arg-type]  # checked just above
    if not isinstance(price, str) or price not in PRICES:
        raise InvalidOption("candle price", price, f"one of {', '.join(PRICES)}")
    chosen.sort(key=TIMEFRAME_SECONDS.__getitem__)
    return tuple(chosen), price  # type: ignore[return-value]  # checked just above


def check_duration(name: str, value: object, *, positive: bool) -> float:
    """``value`` as a finite number of seconds (> 0 if ``positive``, else >= 0).

    :raises InvalidOption: naming the option, the value and what is allowed.
    """
    allowed = f"a finite number of seconds {'> 0' if positive else '>= 0'}"
    if type(value) not in (int, float):
        raise InvalidOption(name, value, allowed)
    seconds = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise InvalidOption(name, value, allowed)
    return seconds


def _mid(tick: Tick) -> float:
    return (tick.bid + tick.ask) / 2


def price_getter(price: CandlePrice) -> Callable[[Tick], float | None]:
    """What reads the charted price of a tick (None: the tick has none)."""
    if price == "mid":
        return _mid
    # The field itself, read in C (the candle service reads one per tick).
    field = price if price in ("bid", "ask") else "last"
    getter: Callable[[Tick], float | None] = attrgetter(field)
    return getter
