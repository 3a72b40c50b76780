"""The reference checks of the trade-integration API, against committed state.

A call that names a ticket or a recommendation is checked against what the data
directory has committed (read through the node's read-only connections), before
anything is enqueued. A repeat of a call with the same ``event_id`` (a retry) finds
its own event and passes.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from ._exceptions import AlreadyRecorded, UnknownReference

__all__ = [
    "require_execution",
    "require_new_execution",
    "require_new_recommendation",
    "require_open",
    "require_recommendation",
]

_LOG_FIRST = "log it (and await the call) first"


async def _first(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Any:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def require_execution(conn: aiosqlite.Connection, database: str, ticket: int) -> None:
    """Refuse a ``ticket`` that has no committed execution.

    :raises UnknownReference: naming the ticket.
    """
    sql = "SELECT event_id FROM trade_executions WHERE ticket = ? LIMIT 1"
    if await _first(conn, sql, (ticket,)) is None:
        raise UnknownReference(
            f"ticket {ticket} has no committed execution in {database}: a position exists "
            f"only once its trade execution is committed; {_LOG_FIRST}; nothing was enqueued",
            field="ticket",
            value=ticket,
            database=database,
        )


async def require_new_execution(
    conn: aiosqlite.Connection, database: str, ticket: int, event_id: str
) -> None:
    """Refuse a ``ticket`` that another execution (another ``event_id``) already opened.

    :raises AlreadyRecorded: naming the ticket and the other execution's ``event_id``.
    """
    sql = "SELECT event_id FROM trade_executions WHERE ticket = ? AND event_id != ? LIMIT 1"
    other = await _first(conn, sql, (ticket, event_id))
    if other is not None:
        raise AlreadyRecorded(
            f"ticket {ticket} is already used by execution {other} in {database}: a ticket "
            "opens one position; a retry of that call must pass event_id="
            f"{other!r}; nothing was enqueued",
            field="ticket",
            value=ticket,
            database=database,
        )


async def require_open(
    conn: aiosqlite.Connection, database: str, ticket: int, event_id: str
) -> None:
    """Refuse to close a ``ticket`` whose close (another ``event_id``) is committed.

    :raises AlreadyRecorded: naming the ticket and the close's ``event_id``.
    """
    sql = (
        "SELECT event_id FROM position_updates WHERE ticket = ? AND status = 'closed' "
        "AND event_id != ? LIMIT 1"
    )
    other = await _first(conn, sql, (ticket, event_id))
    if other is not None:
        raise AlreadyRecorded(
            f"position {ticket} is already closed (by {other}) in {database}: a position "
            f"closes once; a retry of that call must pass event_id={other!r}; "
            "nothing was enqueued",
            field="ticket",
            value=ticket,
            database=database,
        )


async def require_recommendation(
    conn: aiosqlite.Connection, database: str, recommendation_id: str
) -> None:
    """Refuse a ``recommendation_id`` that has no committed recommendation.

    :raises UnknownReference: naming the recommendation_id.
    """
    sql = "SELECT event_id FROM trade_recommendations WHERE recommendation_id = ?"
    if await _first(conn, sql, (recommendation_id,)) is None:
        raise UnknownReference(
            f"recommendation_id {recommendation_id!r} has no committed recommendation in "
            f"{database}; {_LOG_FIRST}; nothing was enqueued",
            field="recommendation_id",
            value=recommendation_id,
            database=database,
        )


async def require_new_recommendation(
    conn: aiosqlite.Connection, database: str, recommendation_id: str, event_id: str
) -> None:
    """Refuse a ``recommendation_id`` that another recommendation already has.

    :raises AlreadyRecorded: naming the recommendation_id and the other ``event_id``.
    """
    sql = "SELECT event_id FROM trade_recommendations WHERE recommendation_id = ?"
    other = await _first(conn, sql, (recommendation_id,))
    if other is not None and other != event_id:
        raise AlreadyRecorded(
            f"recommendation_id {recommendation_id!r} is already used by recommendation "
            f"{other} in {database}; a retry of that call must pass event_id={other!r}; "
            "nothing was enqueued",
            field="recommendation_id",
            value=recommendation_id,
            database=database,
        )
