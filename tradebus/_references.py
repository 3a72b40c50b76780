"""The reference checks of the trade-integration API, against committed state.

A call that names a ticket or a recommendation is checked against what the data
directory has committed (read through the node's read-only connections), before
anything is enqueued. A repeat of a call with the same ``event_id`` (a retry) finds
its own event and passes.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec

from schemas import (
    AnalysisResult,
    ApiLog,
    Event,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from writers import RECOMMENDATION_STAGES

from ._exceptions import AlreadyRecorded, StaleUpdate, UnknownReference
from ._quick_reader import RowSource

__all__ = [
    "EVENT_TABLES",
    "require_execution",
    "require_later_stage",
    "require_open",
    "require_recommendation",
    "require_unclosed",
    "stored_before",
    "twin_execution",
    "twin_recommendation",
]

_LOG_FIRST = "log it (and await the call) first"

#: The table that stores each event type, keyed by ``event_id`` (a UNIQUE column);
#: its other columns are the event's fields, of the same names.
EVENT_TABLES: Final[dict[type[Event], str]] = {
    TradeExecution: "trade_executions",
    PositionUpdate: "position_updates",
    TradeRecommendation: "trade_recommendations",
    RecommendationUpdate: "recommendation_updates",
    TradeAnalysis: "trade_analysis",
    AnalysisResult: "analysis_results",
    TradeMonitoring: "trade_monitoring",
    TradeAlert: "trade_alerts",
    ApiLog: "api_logs",
    SystemHealth: "system_health",
}

_STAGE_ORDER: Final = "pending < rejected = expired < executed < closed"

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxdict = _short.maxlist = 4


def _one(rows: Iterable[Any]) -> Any:
    """The first of ``rows``, or None.

    Every check reads with ``execute_fetchall``: one hop that reads every row, so that
    no statement stays open on the node's shared connection between two awaits; an
    open statement of one call would hold the connection's snapshot for the next ones,
    which would then not see what was committed since.
    """
    return next(iter(rows), None)


async def _first(conn: RowSource, sql: str, params: tuple[Any, ...]) -> Any:
    row = _one(await conn.execute_fetchall(sql, params))
    return None if row is None else row[0]


def _stored_form(value: object) -> object:
    """``value`` as its column holds it: a JSON payload is stored as its JSON text."""
    if type(value) is dict:
        return msgspec.json.encode(value).decode()
    return value


async def stored_before(conn: RowSource, database: str, event: Event) -> bool:
    """Whether ``event`` is committed already under its ``event_id`` (then publishing it
    again is a replay: a no-op).

    :raises AlreadyRecorded: if another event (other content) is committed under that
        ``event_id``, naming the id, the table and what differs.
    """
    table = EVENT_TABLES[type(event)]
    event_id: str = getattr(event, "event_id")  # noqa: B009 - every event of the tables has one
    columns = [name for name in event.__struct_fields__ if name != "event_id"]
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE event_id = ?"
    row = _one(await conn.execute_fetchall(sql, (event_id,)))
    if row is None:
        return False
    differs = [
        (name, stored, getattr(event, name))
        for name, stored in zip(columns, row, strict=True)
        if stored != _stored_form(getattr(event, name))
    ]
    if not differs:
        return True
    name, stored, given = differs[0]
    others = f" (and {', '.join(d[0] for d in differs[1:])})" if len(differs) > 1 else ""
    raise AlreadyRecorded(
        f"event_id {event_id} is already stored in {table} of {database} with another "
        f"{name}{others}: stored {_short.repr(stored)}, this call {_short.repr(given)}; an "
        "event_id names one event: a retry must repeat its call unchanged, a new fact "
        "needs a new event_id (omit it, or make one with schemas.new_event_id()); nothing "
        "was enqueued",
        field="event_id",
        value=event_id,
        database=database,
    )


async def require_execution(conn: RowSource, database: str, ticket: int) -> None:
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
    conn: RowSource,
    database: str,
    execution: TradeExecution,
    *,
    caller_id: bool = False,
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
        caller_id=caller_id,
        refusal=lambda other, differs: (
            f"ticket {execution.ticket} is already used by execution {other} in {database} "
            f"(its {differs} differs): a ticket opens one position; a retry of that call "
            f"must pass the same arguments (or event_id={other!r}); nothing was enqueued"
        ),
    )


async def _close_of(conn: RowSource, ticket: int, event_id: str) -> str | None:
    """The ``event_id`` of a committed close of ``ticket`` other than ``event_id``."""
    sql = (
        "SELECT event_id FROM position_updates WHERE ticket = ? AND status = 'closed' "
        "AND event_id != ? LIMIT 1"
    )
    other = await _first(conn, sql, (ticket, event_id))
    return None if other is None else str(other)


async def require_open(conn: RowSource, database: str, ticket: int, event_id: str) -> None:
    """Refuse to close a ``ticket`` whose close (another ``event_id``) is committed.

    :raises AlreadyRecorded: naming the ticket and the close's ``event_id``.
    """
    other = await _close_of(conn, ticket, event_id)
    if other is not None:
        raise AlreadyRecorded(
            f"position {ticket} is already closed (by {other}) in {database}: a position "
            f"closes once; a retry of that call must pass event_id={other!r}; "
            "nothing was enqueued",
            field="ticket",
            value=ticket,
            database=database,
        )


async def require_unclosed(conn: RowSource, database: str, update: PositionUpdate) -> None:
    """Refuse an update of a position whose close is committed (a close is final: the
    update would change nothing).

    :raises StaleUpdate: naming the ticket and the close's ``event_id``.
    """
    close = await _close_of(conn, update.ticket, update.event_id)
    if close is not None:
        raise StaleUpdate(
            f"position {update.ticket} is closed (by {close}) in {database}: a close is "
            "final, so this update would change nothing; nothing was enqueued",
            field="ticket",
            value=update.ticket,
            database=database,
            status="closed",
        )


async def require_recommendation(
    conn: RowSource,
    database: str,
    recommendation_id: str,
    *,
    executed_by: int | None = None,
) -> None:
    """Refuse a ``recommendation_id`` that has no committed recommendation; with
    ``executed_by`` (the ticket of a new execution that follows it), also one that is
    closed, or executed by another ticket: a recommendation leads to one trade.

    :raises UnknownReference: naming the recommendation_id.
    :raises StaleUpdate: if it is closed.
    :raises AlreadyRecorded: if another ticket executed it, naming that ticket.
    """
    sql = (
        "SELECT status, ticket, updated_event_id FROM trade_recommendations "
        "WHERE recommendation_id = ?"
    )
    row = _one(await conn.execute_fetchall(sql, (recommendation_id,)))
    if row is None:
        raise _unknown_recommendation(database, recommendation_id)
    if executed_by is None:
        return
    status, ticket, by = str(row[0]), row[1], row[2]
    if status == "closed":
        raise StaleUpdate(
            f"recommendation {recommendation_id!r} is closed (by {by}) in {database}: a "
            "closed recommendation is not executed again; nothing was enqueued",
            field="recommendation_id",
            value=recommendation_id,
            database=database,
            status=status,
        )
    if status == "executed" and ticket is not None and ticket != executed_by:
        raise AlreadyRecorded(
            f"recommendation {recommendation_id!r} was executed by ticket {ticket} in "
            f"{database}: a recommendation leads to one trade; nothing was enqueued",
            field="recommendation_id",
            value=recommendation_id,
            database=database,
        )


def _unknown_recommendation(database: str, recommendation_id: str) -> UnknownReference:
    return UnknownReference(
        f"recommendation_id {recommendation_id!r} has no committed recommendation in "
        f"{database}; {_LOG_FIRST}; nothing was enqueued",
        field="recommendation_id",
        value=recommendation_id,
        database=database,
    )


async def require_later_stage(conn: RowSource, database: str, update: RecommendationUpdate) -> None:
    """Refuse an update of a recommendation that is not committed, or whose committed
    status is of a later stage than ``update.status`` (or ``closed`` already): its
    status only moves forward, so the update would change nothing.

    :raises UnknownReference: naming the recommendation_id.
    :raises StaleUpdate: naming the recommendation, its status and the update that
        set it.
    """
    sql = "SELECT status, updated_event_id FROM trade_recommendations WHERE recommendation_id = ?"
    row = _one(await conn.execute_fetchall(sql, (update.recommendation_id,)))
    if row is None:
        raise _unknown_recommendation(database, update.recommendation_id)
    status, by = str(row[0]), row[1]
    current = RECOMMENDATION_STAGES.get(status, 0)
    wanted = RECOMMENDATION_STAGES[update.status]
    if wanted > current or (wanted == current and status != "closed"):
        return
    setter = f" (by {by})" if by else ""
    raise StaleUpdate(
        f"recommendation {update.recommendation_id!r} is {status}{setter} in {database}: "
        f"its status only moves forward ({_STAGE_ORDER}; closed is final), so an update "
        f"to {update.status!r} would change nothing; nothing was enqueued",
        field="recommendation_id",
        value=update.recommendation_id,
        database=database,
        status=status,
    )


async def twin_recommendation(
    conn: RowSource,
    database: str,
    recommendation: TradeRecommendation,
    *,
    caller_id: bool = False,
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
        caller_id=caller_id,
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
    conn: RowSource,
    database: str,
    event: TradeExecution | TradeRecommendation,
    *,
    table: str,
    key: str,
    columns: tuple[str, ...],
    refusal: Callable[[str, str], str],
    caller_id: bool,
) -> tuple[str, int] | None:
    """The stored twin of ``event`` (same key, same content, another ``event_id``) to
    replay; refused when its content differs, or when the caller chose ``event.event_id``
    (an id names one event: the same content under another id is another event)."""
    value = getattr(event, key)
    sql = (
        f"SELECT event_id, ts, {', '.join(columns)} FROM {table} "
        f"WHERE {key} = ? AND event_id != ? LIMIT 1"
    )
    row = _one(await conn.execute_fetchall(sql, (value, event.event_id)))
    if row is None:
        return None
    differs = [c for c, stored in zip(columns, row[2:], strict=True) if stored != getattr(event, c)]
    if not differs:
        if not caller_id:
            return str(row[0]), int(row[1])
        differs = ["event_id"]
    raise AlreadyRecorded(
        refusal(str(row[0]), " and ".join(differs)), field=key, value=value, database=database
    )
