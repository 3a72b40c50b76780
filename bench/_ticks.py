"""The workload: a seeded random walk of ticks, and the other events the processes write."""

from __future__ import annotations

import random
from typing import Final

from schemas import ApiLog, Direction, Tick, TradeRecommendation

__all__ = [
    "START_TS",
    "TickRow",
    "api_log",
    "make_ticks",
    "recommendation",
    "symbol_names",
    "tick_row",
    "tick_rows",
]

#: 2026-01-01T00:00:00Z in nanoseconds: every run starts its clock here.
START_TS: Final = 1_767_225_600_000_000_000

_SYMBOLS: Final = (
    ("EURUSD", 1.085),
    ("GBPUSD", 1.27),
    ("USDJPY", 151.2),
    ("XAUUSD", 2350.0),
    ("BTCUSDT", 64_000.0),
    ("ETHUSDT", 3_100.0),
    ("US500", 5_200.0),
    ("AUDUSD", 0.66),
    ("USDCHF", 0.91),
    ("USDCAD", 1.36),
    ("NZDUSD", 0.61),
    ("EURJPY", 164.0),
)

#: A row of ``unified_ticks``: (symbol, ts, seq, bid, ask, last, volume, source).
TickRow = tuple[str, int, int, float, float, float | None, float, str]


def symbol_names(count: int) -> list[str]:
    """``count`` symbol names: the well-known ones first, then ``SYM0013``, ..."""
    if count < 1:
        raise ValueError(f"symbols must be >= 1, got {count}")
    names = [name for name, _ in _SYMBOLS[:count]]
    names.extend(f"SYM{i:04d}" for i in range(len(names) + 1, count + 1))
    return names


def make_ticks(count: int, symbols: int, seed: int) -> list[Tick]:
    """``count`` quotes, a random walk per symbol, 0.1-2 ms apart, reproducible by ``seed``.

    Every tick carries a ``last`` trade price (between bid and ask) and a ``volume``;
    their source is ``bench``.
    """
    rng = random.Random(seed)
    names = symbol_names(symbols)
    known = dict(_SYMBOLS)
    prices = [known.get(name, 10.0 + 90.0 * rng.random()) for name in names]
    pick = rng.randrange
    gauss = rng.gauss
    ts = START_TS
    ticks = []
    for _ in range(count):
        i = pick(symbols)
        price = prices[i] = prices[i] * (1.0 + gauss(0.0, 2e-4))
        spread = price * (0.5e-5 + 1.5e-5 * rng.random())
        ts += pick(100_000, 2_000_000)
        ticks.append(
            Tick(
                symbol=names[i],
                bid=round(price, 6),
                ask=round(price + spread, 6),
                last=round(price + spread * rng.random(), 6),
                volume=float(pick(1, 50)),
                source="bench",
                ts=ts,
            )
        )
    return ticks


def tick_row(t: Tick, seq: int) -> TickRow:
    """The ``unified_ticks`` row of ``t`` with its ``seq``, in the baselines' column order."""
    return (t.symbol, t.ts, seq, t.bid, t.ask, t.last, t.volume, t.source)


def tick_rows(ticks: list[Tick]) -> list[TickRow]:
    """The ``unified_ticks`` rows of ``ticks``, numbered from 1 as the writer numbers them."""
    return [tick_row(t, seq) for seq, t in enumerate(ticks, 1)]


def recommendation(rng: random.Random, symbol: str, price: float, ts: int) -> TradeRecommendation:
    """A valid trade recommendation near ``price`` (stops on the right side)."""
    direction: Direction
    if rng.random() < 0.5:
        direction, stop, target = "BUY", price * 0.99, price * 1.02
    else:
        direction, stop, target = "SELL", price * 1.01, price * 0.98
    return TradeRecommendation(
        symbol=symbol,
        direction=direction,
        entry_price=price,
        stop_loss=stop,
        take_profit=target,
        confidence=float(rng.randrange(50, 100)),
        reasoning="bench: momentum",
        ts=ts,
    )


_PATHS: Final = ("/ticks/latest", "/positions", "/recommendations", "/health", "/candles/m5")


def api_log(rng: random.Random, ts: int) -> ApiLog:
    """One served API request."""
    return ApiLog(
        method="GET",
        path=_PATHS[rng.randrange(len(_PATHS))],
        status_code=200,
        duration_ms=round(rng.uniform(0.2, 20.0), 3),
        client="127.0.0.1",
        ts=ts,
    )
