"""The read queries users run most, returning typed records."""

from __future__ import annotations

from typing import Any, TypeVar

import aiosqlite
import msgspec

from schemas import Tick, TradeAlert

from ._records import DeadLetter, PositionRecord, RecommendationRecord

__all__ = [
    "alerts",
    "dead_letters",
    "open_positions",
    "recent_ticks",
    "recommendation_of",
    "recommendations",
]

S = TypeVar("S", bound=msgspec.Struct)


async def _fetch(
    conn: aiosqlite.Connection, cls: type[S], sql: str, params: tuple[Any, ...] = ()
) -> list[S]:
    async with conn.execute(sql, params) as cursor:
        names = [d[0] for d in cursor.description]
        rows = await cursor.fetchall()
    return [cls(**dict(zip(names, row, strict=True))) for row in rows]


async def recent_ticks(conn: aiosqlite.Connection, symbol: str, limit: int = 100) -> list[Tick]:
    """The latest ``limit`` ticks of ``symbol``, newest first."""
    return await _fetch(
        conn,
        Tick,
        "SELECT symbol, bid, ask, last, volume, source, ts FROM unified_ticks "
        "WHERE symbol = ? ORDER BY ts DESC, seq DESC LIMIT ?",
        (symbol, limit),
    )


async def open_positions(conn: aiosqlite.Connection) -> list[PositionRecord]:
    """Positions not closed, oldest first."""
    return await _fetch(
        conn,
        PositionRecord,
        "SELECT * FROM trade_positions WHERE status IN ('open', 'modified') "
        "ORDER BY opened_ts, ticket",
    )


async def recommendations(
    conn: aiosqlite.Connection, status: str | None = None
) -> list[RecommendationRecord]:
    """Recommendations (with one ``status`` only, if given), newest first."""
    columns = (
        "recommendation_id, symbol, direction, entry_price, stop_loss, take_profit, "
        "confidence, reasoning, timeframe, source, status, ticket, outcome, realized_pnl, "
        "ts, updated_ts, event_id"
    )
    if status is None:
        sql = f"SELECT {columns} FROM trade_recommendations ORDER BY ts DESC"
        return await _fetch(conn, RecommendationRecord, sql)
    sql = f"SELECT {columns} FROM trade_recommendations WHERE status = ? ORDER BY ts DESC"
    return await _fetch(conn, RecommendationRecord, sql, (status,))


async def alerts(conn: aiosqlite.Connection, since: int | None = None) -> list[TradeAlert]:
    """Alerts at or after ``since`` (ns), oldest first."""
    sql = (
        "SELECT alert_type, severity, message, symbol, ticket, ts, event_id FROM trade_alerts "
        "WHERE ts >= ? ORDER BY ts, event_id"
    )
    return await _fetch(conn, TradeAlert, sql, (since or 0,))


async def recommendation_of(conn: aiosqlite.Connection, ticket: int) -> str | None:
    """The recommendation position ``ticket`` followed, if any."""
    async with conn.execute(
        "SELECT recommendation_id FROM trade_positions WHERE ticket = ?", (ticket,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def dead_letters(conn: aiosqlite.Connection) -> list[DeadLetter]:
    """Every dead letter, oldest first."""
    sql = "SELECT id, topic, seq, event_type, data, error, ts FROM dead_letters ORDER BY id"
    return await _fetch(conn, DeadLetter, sql)
