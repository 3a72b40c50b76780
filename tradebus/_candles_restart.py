"""The candle service's start: taking up the stored bars, then the ticks stored after
the newest tick they hold (relayed while it was not running, or before a crash)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite

from eventbus import Message
from schemas import Tick

from ._candles_engine import CandleEngine
from ._candles_store import bars_between, latest_bars

__all__ = ["catch_up", "restore_bars"]

_NEVER = 2**63


async def restore_bars(
    conn: aiosqlite.Connection, engine: CandleEngine
) -> tuple[int, dict[str, int]]:
    """Take up every symbol's stored bars into ``engine``: how many bars it opened again,
    and the newest tick each symbol's bars hold (ns; where it is known)."""
    latest = await latest_bars(conn, engine.timeframes)
    marks: dict[str, int] = {}
    restored = 0
    base_tf, longest = engine.timeframes[0], max(engine.lengths)
    for symbol, rows in latest.items():
        base = next((row for tf, row, _ in rows if tf == base_tf), None)
        earlier: list[tuple[Any, ...]] = []
        if base is not None:
            ts_open = int(base[0])
            start = ts_open - ts_open % longest
            earlier = await bars_between(conn, symbol, base_tf, start, ts_open)
            if base[9] is not None:
                marks[symbol] = int(base[9])  # the newest tick its bars hold
        restored += engine.restore(symbol, rows, earlier)
    return restored, marks


def catch_up(
    engine: CandleEngine,
    stored: Iterable[tuple[str, int, float | None, float]],
    pending: list[Message[Any]],
    marks: dict[str, int],
    price_of: Callable[[Tick], float | None],
) -> int:
    """Take the ``stored`` ticks (newer than their symbol's mark) into ``engine``, but
    those ``pending`` holds too (published since the service subscribed: taken from
    there, not from the database); return how many it took."""
    buffered = Counter(
        (t.symbol, t.ts, price_of(t), t.volume)
        for t in (m.event for m in pending)
        if t.ts > marks.get(t.symbol, _NEVER)
    )
    add = engine.add
    taken = 0
    for symbol, ts, price, volume in stored:
        key = (symbol, ts, price, volume)
        if buffered[key]:
            buffered[key] -= 1
            continue
        if price is not None:
            add(symbol, ts, float(price), volume)
            taken += 1
    return taken
