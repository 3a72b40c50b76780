"""The trades' reads (positions, executions, recommendations) and the logs' (monitoring,
alerts, health): keyset pages, parameterised SQL.

Each function runs on a reader's connection (one read transaction) and returns at
most ``limit + 1`` rows: the extra one only says whether a next page exists.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ._queries_market import latest_tick
from ._readers import fetch

__all__ = [
    "alerts_page",
    "executions_page",
    "health_page",
    "monitoring_page",
    "positions_page",
    "recommendation_pnl",
    "recommendations_page",
]

_POSITION = (
    "ticket, symbol, direction, status, entry_price, volume, stop_loss, take_profit, "
    "current_price, unrealized_pnl, close_price, realized_pnl, recommendation_id, "
    "opened_ts, closed_ts, ts"
)
_STATES = {"open": ("open", "modified"), "closed": ("closed",)}


def positions_page(
    conn: sqlite3.Connection,
    state: str,
    symbol: str | None,
    ticket: int | None,
    before: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any] | None]]:
    """Positions by ticket, highest first, below ``before``; and the latest tick of each
    of their symbols (read in the same snapshot)."""
    sql = f"SELECT {_POSITION} FROM trade_positions WHERE 1 = 1"
    params: tuple[Any, ...] = ()
    statuses = _STATES.get(state)
    if statuses is not None:
        sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
        params += statuses
    if symbol is not None:
        sql += " AND symbol = ?"
        params += (symbol,)
    if ticket is not None:
        sql += " AND ticket = ?"
        params += (ticket,)
    if before is not None:
        sql += " AND ticket < ?"
        params += (before,)
    rows = fetch(conn, f"{sql} ORDER BY ticket DESC LIMIT ?", (*params, limit + 1))
    marks = {
        row["symbol"]: latest_tick(conn, row["symbol"])
        for row in rows[:limit]
        if row["status"] != "closed"
    }
    return rows, marks


def _by_time(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    filters: list[tuple[str, Any]],
    since: int,
    until: int,
    after: tuple[Any, ...] | None,
    limit: int,
    tiebreak: str = "id",
) -> list[dict[str, Any]]:
    """Rows of ``table`` with ``since <= ts < until`` matching ``filters`` (column =
    value), newest first by (ts, tiebreak), after key ``after``."""
    sql = f"SELECT {columns}, {tiebreak} AS _key FROM {table} WHERE ts >= ? AND ts < ?"
    params: tuple[Any, ...] = (since, until)
    for name, value in filters:
        sql += f" AND {name} = ?"
        params += (value,)
    if after is not None:
        sql += f" AND (ts, {tiebreak}) < (?, ?)"
        params += tuple(after)
    return fetch(conn, f"{sql} ORDER BY ts DESC, {tiebreak} DESC LIMIT ?", (*params, limit + 1))


def executions_page(
    conn: sqlite3.Connection,
    symbol: str | None,
    start: int,
    end: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    filters: list[tuple[str, Any]] = [] if symbol is None else [("symbol", symbol)]
    columns = (
        "ticket, symbol, direction, entry_price, volume, stop_loss, take_profit, "
        "recommendation_id, comment, event_id, ts"
    )
    return _by_time(conn, "trade_executions", columns, filters, start, end, after, limit)


def recommendations_page(
    conn: sqlite3.Connection,
    filters: list[tuple[str, Any]],
    since: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    columns = (
        "recommendation_id, symbol, direction, entry_price, stop_loss, take_profit, "
        "confidence, reasoning, timeframe, source, status, ticket, outcome, realized_pnl, "
        "ts, updated_ts"
    )
    return _by_time(
        conn,
        "trade_recommendations",
        columns,
        filters,
        since,
        2**63 - 1,
        after,
        limit,
        tiebreak="recommendation_id",
    )


def recommendation_pnl(conn: sqlite3.Connection, tickets: list[int]) -> dict[int, float]:
    """The realized P&L of the closed positions among ``tickets``."""
    found: dict[int, float] = {}
    for ticket in tickets:
        rows = fetch(
            conn,
            "SELECT realized_pnl FROM trade_positions WHERE ticket = ? AND status = 'closed'",
            (ticket,),
        )
        if rows and rows[0]["realized_pnl"] is not None:
            found[ticket] = float(rows[0]["realized_pnl"])
    return found


def monitoring_page(
    conn: sqlite3.Connection,
    filters: list[tuple[str, Any]],
    since: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    columns = "ticket, symbol, monitoring_type, status, details, event_id, ts"
    return _by_time(conn, "trade_monitoring", columns, filters, since, 2**63 - 1, after, limit)


def alerts_page(
    conn: sqlite3.Connection,
    filters: list[tuple[str, Any]],
    since: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[dict[str, Any]]:
    columns = "alert_type, severity, message, symbol, ticket, event_id, ts"
    return _by_time(conn, "trade_alerts", columns, filters, since, 2**63 - 1, after, limit)


def health_page(conn: sqlite3.Connection, after: str | None, limit: int) -> list[dict[str, Any]]:
    """Each component's latest ``system_health`` row, components in name order after
    ``after`` (one index seek per component)."""
    found: list[dict[str, Any]] = []
    component = "" if after is None else after
    while len(found) <= limit:
        rows = fetch(
            conn,
            "SELECT component FROM system_health WHERE component > ? ORDER BY component LIMIT 1",
            (component,),
        )
        if not rows:
            break
        component = str(rows[0]["component"])
        found += fetch(
            conn,
            "SELECT component, status, details, event_id, ts FROM system_health "
            "WHERE component = ? ORDER BY ts DESC, id DESC LIMIT 1",
            (component,),
        )
    return found
