"""Tick streams for the candle tests, and the oracle: pandas' own resampling."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import pandas as pd

from schemas import TIMEFRAME_SECONDS, Tick

NS = 1_000_000_000
MINUTE = 60 * NS

#: (symbol, timeframe, ts_open) -> (open, high, low, close, volume, tick_count)
Bars = dict[tuple[str, str, int], tuple[float, float, float, float, float, int]]


def random_ticks(
    seed: int, n: int, *, symbols: Sequence[str] = ("EURUSD",), start: int | None = None
) -> list[Tick]:
    """A random walk of ``n`` ticks over the symbols, in timestamp order, with gaps
    (quiet minutes and hours), bursts (many ticks on one timestamp) and timestamps on
    exact interval boundaries (and one ns before them)."""
    rng = random.Random(seed)
    ts = start if start is not None else 1_700_000_000 * NS - 1_700_000_000 * NS % (86_400 * NS)
    mids = {s: 1.1 + i for i, s in enumerate(symbols)}
    ticks: list[Tick] = []
    while len(ticks) < n:
        r = rng.random()
        if r < 0.01:
            ts += rng.randrange(2, 180) * MINUTE  # a gap: whole minutes without ticks
        elif r < 0.05:
            boundary = ts - ts % MINUTE + MINUTE
            ts = boundary - rng.choice((0, 1))  # on a boundary, or 1 ns before it
        elif r < 0.10:
            pass  # a burst: the same timestamp again
        else:
            ts += rng.randrange(1, 3 * NS)
        symbol = rng.choice(symbols)
        mid = mids[symbol] = round(max(0.01, mids[symbol] + rng.gauss(0, 0.0004)), 5)
        spread = rng.choice((0.0001, 0.0002, 0.0003))
        last = None if rng.random() < 0.1 else round(mid + rng.gauss(0, 0.0001), 5)
        ticks.append(
            Tick(
                symbol=symbol,
                bid=round(mid - spread / 2, 6),
                ask=round(mid + spread / 2, 6),
                last=last,
                volume=float(rng.randrange(0, 5)),
                ts=ts,
            )
        )
    return ticks


def price_of(tick: Tick, price: str) -> float | None:
    if price == "mid":
        return (tick.bid + tick.ask) / 2
    value: float | None = getattr(tick, price)
    return value


def oracle(ticks: Iterable[Tick], timeframes: Iterable[str], price: str = "bid") -> Bars:
    """The bars of ``ticks`` by pandas: ``resample(closed="left", label="left")`` of the
    price (``.ohlc()``), the ticks (``.count()``) and the volumes (``.sum()``), in
    timestamp order (ties: in arrival order), without the intervals that have none."""
    rows = [
        (t.symbol, t.ts, p, t.volume)
        for t in ticks
        if (p := price_of(t, price)) is not None
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["symbol", "ts", "price", "volume"])
    frame = frame.sort_values("ts", kind="stable")
    bars: Bars = {}
    for symbol, group in frame.groupby("symbol"):
        series = group.set_index(pd.to_datetime(group["ts"], unit="ns"))
        for tf in timeframes:
            rule = f"{TIMEFRAME_SECONDS[tf]}s"
            resampled = series.resample(rule, closed="left", label="left")
            ohlc = resampled["price"].ohlc()
            ohlc["count"] = resampled["price"].count()
            ohlc["volume"] = resampled["volume"].sum()
            ohlc = ohlc[ohlc["count"] > 0]  # no ticks: no bar
            for at, o, h, low, c, n, v in zip(
                ohlc.index.asi8, ohlc["open"], ohlc["high"], ohlc["low"], ohlc["close"],
                ohlc["count"], ohlc["volume"], strict=True,
            ):  # fmt: skip
                bars[(str(symbol), tf, int(at))] = (
                    float(o), float(h), float(low), float(c), float(v), int(n),
                )  # fmt: skip
    return bars
