"""The market's reads (``unified_ticks``, ``candles``): keyset pages, parameterised SQL.

Each function runs on a reader's connection (one read transaction) and returns at
most ``limit + 1`` rows: the extra one only says whether a next page exists.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ._readers import fetch

__all__ = ["candles_page", "latest_tick", "symbols_page", "ticks_page"]

_TICK = "symbol, bid, ask, last, volume, source, ts, seq"
_CANDLE = (
    "symbol, timeframe, ts_open, open, high, low, close, volume, tick_count, complete, "
    "revision, first_tick_ts, last_tick_ts, ts"
)


def ticks_page(
    conn: sqlite3.Connection,
    symbol: str,
    start: int,
    end: int,
    descending: bool,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """``symbol``'s ticks with ``start <= ts < end``, by (ts, seq), after key ``after``
    (ts, seq) in that order."""
    sql = f"SELECT {_TICK} FROM unified_ticks WHERE symbol = ? AND ts >= ? AND ts < ?"
    params: tuple[Any, ...] = (symbol, start, end)
    if after is not None:
        sql += " AND (ts, seq) < (?, ?)" if descending else " AND (ts, seq) > (?, ?)"
        params += tuple(after)
    way = "DESC" if descending else "ASC"
    return fetch(conn, f"{sql} ORDER BY ts {way}, seq {way} LIMIT ?", (*params, limit + 1))


def latest_tick(conn: sqlite3.Connection, symbol: str) -> dict[str, Any] | None:
    """``symbol``'s latest stored tick (one index seek)."""
    rows = fetch(
        conn,
        f"SELECT {_TICK} FROM unified_ticks WHERE symbol = ? ORDER BY ts DESC, seq DESC LIMIT 1",
        (symbol,),
    )
    return rows[0] if rows else None


def symbols_page(conn: sqlite3.Connection, after: str | None, limit: int) -> list[dict[str, Any]]:
    """The symbols with ticks after ``after`` in name order, each with its latest tick
    (one index seek per symbol, however many ticks are stored)."""
    found: list[dict[str, Any]] = []
    symbol = "" if after is None else after
    while len(found) <= limit:
        rows = fetch(
            conn,
            "SELECT symbol FROM unified_ticks WHERE symbol > ? ORDER BY symbol LIMIT 1",
            (symbol,),
        )
        if not rows:
            break
        symbol = str(rows[0]["symbol"])
        tick = latest_tick(conn, symbol)
        if tick is not None:
            found.append(tick)
    return found


def candles_page(
    conn: sqlite3.Connection,
    symbol: str,
    timeframe: str,
    start: int,
    end: int,
    before: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """``symbol``'s bars of ``timeframe`` opened in ``[start, end)`` and before
    ``before``, newest first."""
    sql = (
        f"SELECT {_CANDLE} FROM candles WHERE symbol = ? AND timeframe = ? "
        "AND ts_open >= ? AND ts_open < ?"
    )
    params: tuple[Any, ...] = (symbol, timeframe, start, end)
    if before is not None:
        sql += " AND ts_open < ?"
        params += (before,)
    return fetch(conn, f"{sql} ORDER BY ts_open DESC LIMIT ?", (*params, limit + 1))
