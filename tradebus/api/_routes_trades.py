"""``/positions``, ``/executions``, ``/recommendations``, ``/journal``: the trades."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException
from litestar.types import ControllerRouterHandler

from .._contracts import ContractSizes
from .._event_fields import outcome_of
from .._journal import JournalError, journal
from ._pages import iso, iso_or_none, parse_time, time_range
from ._queries_trades import (
    executions_page,
    positions_page,
    recommendation_pnl,
    recommendations_page,
)
from ._routes_params import (
    RESPONSES,
    RESPONSES_404,
    Ctx,
    Cursor,
    End,
    Limit,
    OptionalSymbol,
    Since,
    Start,
    TicketPath,
    check_choice,
    check_symbol_param,
    choice,
    page_limit,
)
from ._views_journal import JournalEntryView, JournalSummaryView, JournalView
from ._views_trades import (
    ExecutionPage,
    ExecutionView,
    PositionPage,
    PositionView,
    RecommendationPage,
    RecommendationView,
)

__all__ = ["TRADE_HANDLERS"]

_STATES: Final = ("open", "closed", "all")
_Positions = tuple[list[dict[str, Any]], dict[str, dict[str, Any] | None]]
_NO_POSITIONS: Final[_Positions] = ([], {})
_STATUSES: Final = ("pending", "executed", "rejected", "expired", "closed", "all")


def _position(r: dict[str, Any], mark: dict[str, Any] | None, sizes: ContractSizes) -> PositionView:
    closed = r["status"] == "closed"
    direction, entry, volume = r["direction"], r["entry_price"], r["volume"]
    size = sizes.size(r["symbol"])
    mark_price = mark_ts = unrealized = None
    if not closed and mark is not None and direction in ("BUY", "SELL"):
        mark_price = mark["bid"] if direction == "BUY" else mark["ask"]
        mark_ts = mark["ts"]
        if entry is not None and volume is not None:
            sign = 1.0 if direction == "BUY" else -1.0
            unrealized = round((mark_price - entry) * sign * volume * size, 10)
    realized = r["realized_pnl"]
    return PositionView(
        ticket=r["ticket"],
        symbol=r["symbol"],
        direction=direction,
        status=r["status"],
        state="closed" if closed else "open",
        entry_price=entry,
        volume=volume,
        stop_loss=r["stop_loss"],
        take_profit=r["take_profit"],
        current_price=r["current_price"],
        close_price=r["close_price"],
        realized_pnl=realized,
        outcome=outcome_of(realized) if closed and realized is not None else None,
        unrealized_pnl=unrealized,
        contract_size=size,
        mark_price=mark_price,
        mark_ts=mark_ts,
        mark_at=iso_or_none(mark_ts),
        reported_unrealized_pnl=None if closed else r["unrealized_pnl"],
        recommendation_id=r["recommendation_id"],
        opened_ts=r["opened_ts"],
        opened_at=iso_or_none(r["opened_ts"]),
        closed_ts=r["closed_ts"],
        closed_at=iso_or_none(r["closed_ts"]),
        ts=r["ts"],
        time=iso(r["ts"]),
    )


@get(
    "/positions",
    summary="Positions, with their P&L",
    description=(
        "By ticket, highest first. Closed: realized P&L and outcome; open: unrealized P&L "
        "from the latest stored tick of the symbol (bid for a BUY, ask for a SELL), times "
        "the volume and the symbol's contract size."
    ),
    responses=RESPONSES,
)
async def positions(
    ctx: Ctx,
    state_: Annotated[str, choice(_STATES, "which positions", "all", query="state")] = "all",
    symbol: OptionalSymbol = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> PositionPage:
    state = state_
    check_choice("state", state, _STATES)
    check_symbol_param("symbol", symbol)
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"positions|{state}|{symbol}"
    before = cursors.read(scope, cursor, (int,))
    rows, marks = await ctx.reads.pools.read(
        "main",
        lambda conn: positions_page(
            conn, state, symbol, None, None if before is None else before[0], size
        ),
        _NO_POSITIONS,
    )
    sizes = ctx.node.contract_sizes
    items = [_position(r, marks.get(r["symbol"]), sizes) for r in rows[:size]]
    more = len(rows) > size
    next_cursor = cursors.make(scope, (rows[size - 1]["ticket"],)) if more else None
    return PositionPage(items=items, next_cursor=next_cursor)


@get(
    "/positions/{ticket:int}",
    summary="One position, with its P&L",
    responses=RESPONSES_404,
)
async def position(ctx: Ctx, ticket: TicketPath) -> PositionView:
    rows, marks = await ctx.reads.pools.read(
        "main", lambda conn: positions_page(conn, "all", None, ticket, None, 1), _NO_POSITIONS
    )
    if not rows:
        raise NotFoundException(f"no position with ticket {ticket}")
    return _position(rows[0], marks.get(rows[0]["symbol"]), ctx.node.contract_sizes)


@get(
    "/executions",
    summary="Executions",
    description="Newest first, in [start, end).",
    responses=RESPONSES,
)
async def executions(
    ctx: Ctx,
    symbol: OptionalSymbol = None,
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> ExecutionPage:
    check_symbol_param("symbol", symbol)
    lo, hi = time_range(start, end)
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"executions|{symbol}|{lo}|{hi}"
    after = cursors.read(scope, cursor, (int, int))
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        "main", lambda conn: executions_page(conn, symbol, lo, hi, after, size), []
    )
    items = [
        ExecutionView(**{k: v for k, v in r.items() if k != "_key"}, time=iso(r["ts"]))
        for r in rows[:size]
    ]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = cursors.make(scope, (last["ts"], last["_key"])) if last else None
    return ExecutionPage(items=items, next_cursor=next_cursor)


@get(
    "/recommendations",
    summary="Recommendations, with their outcome and P&L",
    description="Newest first.",
    responses=RESPONSES,
)
async def recommendations(
    ctx: Ctx,
    status: Annotated[str, choice(_STATUSES, "their current status", "all")] = "all",
    symbol: OptionalSymbol = None,
    since: Since = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> RecommendationPage:
    check_choice("status", status, _STATUSES)
    check_symbol_param("symbol", symbol)
    lo = parse_time("since", since) or 0
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"recommendations|{status}|{symbol}|{lo}"
    after = cursors.read(scope, cursor, (int, str))
    filters: list[tuple[str, Any]] = [] if status == "all" else [("status", status)]
    if symbol is not None:
        filters.append(("symbol", symbol))
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        "analysis", lambda conn: recommendations_page(conn, filters, lo, after, size), []
    )
    page = rows[:size]
    wanted = [r["ticket"] for r in page if r["realized_pnl"] is None and r["ticket"] is not None]
    pnl: dict[int, float] = {}
    if wanted:
        pnl = await ctx.reads.pools.read("main", lambda conn: recommendation_pnl(conn, wanted), {})
    items = [_recommendation(r, pnl) for r in page]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = cursors.make(scope, (last["ts"], last["_key"])) if last else None
    return RecommendationPage(items=items, next_cursor=next_cursor)


def _recommendation(r: dict[str, Any], pnl: dict[int, float]) -> RecommendationView:
    fields = {k: v for k, v in r.items() if k != "_key"}
    realized, outcome = r["realized_pnl"], r["outcome"]
    source: Literal["recommendation", "position"] | None = None
    if realized is not None:
        source = "recommendation"
        outcome = outcome or outcome_of(realized)
    elif r["ticket"] in pnl:
        realized, source = pnl[r["ticket"]], "position"
        outcome = outcome or outcome_of(realized)
    fields.update(realized_pnl=realized, outcome=outcome)
    return RecommendationView(
        **fields, pnl_from=source, time=iso(r["ts"]), updated_at=iso(r["updated_ts"])
    )


@get(
    "/journal/{ticket:int}",
    summary="A trade's whole life across the three databases",
    description="Its recommendation, execution, changes, monitoring, alerts and close, "
    "in time order (the first limit of them), with its summary.",
    responses=RESPONSES_404,
)
async def trade_journal(ctx: Ctx, ticket: TicketPath, limit: Limit = None) -> JournalView:
    size = ctx.options.max_limit if limit is None else page_limit(ctx, limit)
    try:
        found = await journal(ctx.node, ticket)
    except JournalError as exc:
        if not str(exc).startswith("no trade with ticket"):
            raise
        raise NotFoundException(f"no trade with ticket {ticket}") from None
    summary = msgspec.structs.asdict(found.summary)
    return JournalView(
        summary=JournalSummaryView(
            **summary,
            opened_at=iso_or_none(summary["opened_ts"]),
            closed_at=iso_or_none(summary["closed_ts"]),
        ),
        entries=[
            JournalEntryView(
                database=e.database,
                table=e.table,
                kind=e.kind,
                text=e.text,
                fields=e.fields,
                ts=e.ts,
                time=iso(e.ts),
            )
            for e in found.entries[:size]
        ],
        entries_total=len(found.entries),
    )


TRADE_HANDLERS: list[ControllerRouterHandler] = [
    positions,
    position,
    executions,
    recommendations,
    trade_journal,
]
