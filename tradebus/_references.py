"""The reference checks of the trade-integration API, against committed state.

A call that names a ticket or a recommendation is checked against what the data
directory has committed (read through the node's read-only connections), before
anything is enqueued. A repeat of a call with the same ``event_id`` (a retry) finds
its own event and passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import aiosqlite

from schemas import TradeExecution, TradeRecommendation

from ._exceptions import AlreadyRecorded, UnknownReference

__all__ = [
    "require_execution",
    "require_open",
    "require_recommendation",
    "twin_execution",
    "twin_recommendation",
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


async def twin_execution(
    conn: aiosqlite.Connection, database: str, execution: TradeExecution
) -> tuple[str, int] | None:
    """The ``(event_id, ts)`` of the committed execution of ``execution.ticket`` when it is
    the same trade (a repeat of the call without its ``event_id``), else None.

    :raises AlreadyRecorded: if another execution (another ``event_id``, other content)
        opened the ticket, naming the ticket, the other execution's ``event_id`` and
        what differs.
    """
    return await _twin(
        conn,
        database,
        execution,
        table="trade_executions",
        key="ticket",
        columns=_EXECUTION_CONTENT,
        refusal=lambda other, differs: (
            f"ticket {execution.ticket} is already used by execution {other} in {database} "
            f"(its {differs} differs): a ticket opens one position; a retry of that call "
            f"must pass the same arguments (or event_id={other!r}); nothing was enqueued"
        ),
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


async def twin_recommendation(
    conn: aiosqlite.Connection, database: str, recommendation: TradeRecommendation
) -> tuple[str, int] | None:
    """The ``(event_id, ts)`` of the committed recommendation with this
    ``recommendation_id`` when it is the same recommendation (a repeat of the call
    without its ``event_id``), else None.

    :raises AlreadyRecorded: if another recommendation (other content) has the id,
        naming it, the other ``event_id`` and what differs.
    """
    return await _twin(
        conn,
        database,
        recommendation,
        table="trade_recommendations",
        key="recommendation_id",
        columns=_RECOMMENDATION_CONTENT,
        refusal=lambda other, differs: (
            f"recommendation_id {recommendation.recommendation_id!r} is already used by "
            f"recommendation {other} in {database} (its {differs} differs): log a change "
            "as a recommendation update, or a new recommendation under a new "
            "recommendation_id; nothing was enqueued"
        ),
    )


# What makes two events the same trade or recommendation: everything but their
# event_id and ts (a repeat of a call without its event_id gets new ones).
_EXECUTION_CONTENT: Final = (
    "symbol",
    "direction",
    "entry_price",
    "volume",
    "stop_loss",
    "take_profit",
    "recommendation_id",
    "comment",
)
_RECOMMENDATION_CONTENT: Final = (
    "symbol",
    "direction",
    "entry_price",
    "stop_loss",
    "take_profit",
    "confidence",
    "reasoning",
    "timeframe",
    "source",
)


async def _twin(
    conn: aiosqlite.Connection,
    database: str,
    event: TradeExecution | TradeRecommendation,
    *,
    table: str,
    key: str,
    columns: tuple[str, ...],
    refusal: Callable[[str, str], str],
) -> tuple[str, int] | None:
    value = getattr(event, key)
    sql = (
        f"SELECT event_id, ts, {', '.join(columns)} FROM {table} "
        f"WHERE {key} = ? AND event_id != ? LIMIT 1"
    )
    async with conn.execute(sql, (value, event.event_id)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    differs = [c for c, stored in zip(columns, row[2:], strict=True) if stored != getattr(event, c)]
    if not differs:
        return str(row[0]), int(row[1])
    raise AlreadyRecorded(
        refusal(str(row[0]), " and ".join(differs)), field=key, value=value, database=database
    )
