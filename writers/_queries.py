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
    conn: aiosqlite.Connection, cls: type[S], rest: str, params: tuple[Any, ...] = ()
) -> list[S]:
    """``SELECT`` the columns named as ``cls``'s fields, then ``rest`` (FROM ...)."""
    fields = cls.__struct_fields__
    # One hop that reads every row: no statement stays open on a shared connection,
    # whose snapshot would then lag behind what is committed.
    rows = await conn.execute_fetchall(f"SELECT {', '.join(fields)} {rest}", params)
    return [cls(**dict(zip(fields, row, strict=True))) for row in rows]


async def recent_ticks(conn: aiosqlite.Connection, symbol: str, limit: int = 100) -> list[Tick]:
    """The latest ``limit`` ticks of ``symbol``, newest first."""
    return await _fetch(
        conn,
        Tick,
        "FROM unified_ticks WHERE symbol = ? ORDER BY ts DESC, seq DESC LIMIT ?",
        (symbol, limit),
    )


async def open_positions(conn: aiosqlite.Connection) -> list[PositionRecord]:
    """Positions not closed, oldest first."""
    return await _fetch(
        conn,
        PositionRecord,
        "FROM trade_positions WHERE status IN ('open', 'modified') ORDER BY opened_ts, ticket",
    )


async def recommendations(
    conn: aiosqlite.Connection, status: str | None = None
) -> list[RecommendationRecord]:
    """Recommendations (with one ``status`` only, if given), newest first."""
    where, params = ("", ()) if status is None else ("WHERE status = ? ", (status,))
    rest = f"FROM trade_recommendations {where}ORDER BY ts DESC"
    return await _fetch(conn, RecommendationRecord, rest, params)


async def alerts(conn: aiosqlite.Connection, since: int | None = None) -> list[TradeAlert]:
    """Alerts at or after ``since`` (ns), oldest first."""
    rest = "FROM trade_alerts WHERE ts >= ? ORDER BY ts, event_id"
    return await _fetch(conn, TradeAlert, rest, (since or 0,))


async def recommendation_of(conn: aiosqlite.Connection, ticket: int) -> str | None:
    """The recommendation position ``ticket`` followed, if any."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT recommendation_id FROM trade_positions WHERE ticket = ?", (ticket,)
        )
    )
    return None if not rows else rows[0][0]


async def dead_letters(conn: aiosqlite.Connection) -> list[DeadLetter]:
    """Every dead letter, oldest first."""
    return await _fetch(conn, DeadLetter, "FROM dead_letters ORDER BY id")
