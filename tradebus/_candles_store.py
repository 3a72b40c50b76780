"""Reading the stored candles (read-only): the latest bars to restart from, the bars a
late tick revises, and the ticks a rebuild reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import aiosqlite

from schemas import Timeframe

__all__ = [
    "BAR_COLUMNS",
    "bars_between",
    "latest_bars",
    "stored_bars",
    "stored_ticks",
    "ticks_after",
]

#: The columns a :class:`~tradebus._candles_bar.Bar` reads, then ``complete``.
BAR_COLUMNS = (
    "ts_open, open, high, low, close, volume, tick_count, revision, first_tick_ts, "
    "last_tick_ts, complete"
)

Row = tuple[Any, ...]


async def latest_bars(
    conn: aiosqlite.Connection, timeframes: Sequence[Timeframe]
) -> dict[str, list[tuple[Timeframe, Row, bool]]]:
    """Each symbol's latest stored bar of each timeframe: ``(timeframe, row, complete)``
    (one index seek per symbol and timeframe, however many bars are stored)."""
    latest: dict[str, list[tuple[Timeframe, Row, bool]]] = {}
    symbol = ""
    while True:
        rows = await conn.execute_fetchall(
            "SELECT symbol FROM candles WHERE symbol > ? ORDER BY symbol LIMIT 1", (symbol,)
        )
        if not rows:
            return latest
        symbol = str(next(iter(rows))[0])
        for tf in timeframes:
            found = await conn.execute_fetchall(
                f"SELECT {BAR_COLUMNS} FROM candles WHERE symbol = ? AND timeframe = ? "
                "ORDER BY ts_open DESC LIMIT 1",
                (symbol, tf),
            )
            for row in found:
                latest.setdefault(symbol, []).append((tf, tuple(row[:-1]), bool(row[-1])))


async def bars_between(
    conn: aiosqlite.Connection, symbol: str, timeframe: Timeframe, start: int, end: int
) -> list[Row]:
    """``symbol``'s stored bars of ``timeframe`` opened in ``[start, end)``, oldest first
    (rows as :data:`BAR_COLUMNS` without ``complete``)."""
    rows = await conn.execute_fetchall(
        f"SELECT {BAR_COLUMNS} FROM candles WHERE symbol = ? AND timeframe = ? "
        "AND ts_open >= ? AND ts_open < ? ORDER BY ts_open",
        (symbol, timeframe, start, end),
    )
    return [tuple(row[:-1]) for row in rows]


async def stored_bars(
    conn: aiosqlite.Connection, keys: Iterable[tuple[str, Timeframe, int]]
) -> dict[tuple[str, Timeframe, int], Row]:
    """The stored bars of ``keys`` (symbol, timeframe, ts_open) that exist."""
    found: dict[tuple[str, Timeframe, int], Row] = {}
    for symbol, tf, ts_open in keys:
        rows = await conn.execute_fetchall(
            f"SELECT {BAR_COLUMNS} FROM candles WHERE symbol = ? AND timeframe = ? AND ts_open = ?",
            (symbol, tf, ts_open),
        )
        for row in rows:
            found[(symbol, tf, ts_open)] = tuple(row)
    return found


async def stored_ticks(
    conn: aiosqlite.Connection, symbol: str, since: int, price: str, chunk: int = 50_000
) -> AsyncIterator[list[tuple[int, float | None, float]]]:
    """``symbol``'s stored ticks from ``since`` on, in the order they were stored (ts,
    then seq): ``(ts, price, volume)`` in chunks."""
    column = {"bid": "bid", "ask": "ask", "last": "last", "mid": "(bid + ask) / 2.0"}[price]
    ts, seq = since, -1
    while True:
        rows = await conn.execute_fetchall(
            f"SELECT ts, seq, {column}, volume FROM unified_ticks "
            "WHERE symbol = ? AND (ts > ? OR (ts = ? AND seq > ?)) ORDER BY ts, seq LIMIT ?",
            (symbol, ts, ts, seq, chunk),
        )
        batch = [(int(r[0]), r[2], float(r[3])) for r in rows]
        if not batch:
            return
        last = list(rows)[-1]
        ts, seq = int(last[0]), int(last[1])
        yield batch
        if len(batch) < chunk:
            return


async def ticks_after(
    conn: aiosqlite.Connection, marks: dict[str, int], price: str, limit: int
) -> list[tuple[str, int, float | None, float]] | None:
    """Each symbol's stored ticks newer than its mark (ns), in the order they were stored:
    ``(symbol, ts, price, volume)``, in one read (one snapshot); None if there are more
    than ``limit``."""
    if not marks:
        return []
    column = {"bid": "t.bid", "ask": "t.ask", "last": "t.last", "mid": "(t.bid + t.ask) / 2.0"}[
        price
    ]
    values = ", ".join("(?, ?)" for _ in marks)
    params: list[object] = [v for item in marks.items() for v in item]
    rows = await conn.execute_fetchall(
        f"WITH marks(symbol, ts) AS (VALUES {values}) "
        f"SELECT t.symbol, t.ts, {column}, t.volume FROM marks "
        "JOIN unified_ticks t ON t.symbol = marks.symbol AND t.ts > marks.ts "
        "ORDER BY t.symbol, t.ts, t.seq LIMIT ?",
        (*params, limit + 1),
    )
    found = [(str(r[0]), int(r[1]), r[2], float(r[3])) for r in rows]
    return None if len(found) > limit else found
