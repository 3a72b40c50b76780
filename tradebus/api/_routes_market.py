"""``/ticks``, ``/candles``, ``/symbols``: the market, read from the bot's database."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import get
from litestar.types import ControllerRouterHandler

from schemas import TIMEFRAME_SECONDS

from ._pages import iso, iso_or_none, time_range
from ._queries_market import candles_page, symbols_page, ticks_page
from ._routes_params import (
    RESPONSES,
    Ctx,
    Cursor,
    End,
    Limit,
    Start,
    SymbolParam,
    check_choice,
    check_symbol_param,
    choice,
    page_limit,
)
from ._views_market import CandlePage, CandleView, SymbolPage, SymbolView, TickPage, TickView

__all__ = ["MARKET_HANDLERS"]

_MAIN: Final = "main"
_ORDERS: Final = ("desc", "asc")
_TIMEFRAMES: Final = tuple(TIMEFRAME_SECONDS)


@get(
    "/ticks",
    summary="A symbol's stored ticks",
    description=(
        "Newest first (order=desc, the default) or oldest first (order=asc), by time then "
        "storage order, in [start, end)."
    ),
    responses=RESPONSES,
)
async def ticks(
    ctx: Ctx,
    symbol: SymbolParam,
    start: Start = None,
    end: End = None,
    order: Annotated[str, choice(_ORDERS, "newest or oldest first", "desc")] = "desc",
    limit: Limit = None,
    cursor: Cursor = None,
) -> TickPage:
    check_symbol_param("symbol", symbol)
    check_choice("order", order, _ORDERS)
    lo, hi = time_range(start, end)
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"ticks|{symbol}|{order}|{lo}|{hi}"
    after = cursors.read(scope, cursor, (int, int))
    descending = order == "desc"
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _MAIN, lambda conn: ticks_page(conn, symbol, lo, hi, descending, after, size), []
    )
    items = [
        TickView(
            symbol=r["symbol"],
            bid=r["bid"],
            ask=r["ask"],
            last=r["last"],
            volume=r["volume"],
            source=r["source"],
            ts=r["ts"],
            time=iso(r["ts"]),
        )
        for r in rows[:size]
    ]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = cursors.make(scope, (last["ts"], last["seq"])) if last else None
    return TickPage(items=items, next_cursor=next_cursor)


@get(
    "/candles",
    summary="A symbol's bars of one timeframe",
    description=(
        "Bars opened in [start, end), complete or in progress. A page holds the newest "
        "bars of the range (limit of them), oldest first; its next_cursor gives the bars "
        "before them."
    ),
    responses=RESPONSES,
)
async def candles(
    ctx: Ctx,
    symbol: SymbolParam,
    timeframe: Annotated[str, choice(_TIMEFRAMES, "the bars' timeframe")],
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> CandlePage:
    check_symbol_param("symbol", symbol)
    check_choice("timeframe", timeframe, _TIMEFRAMES)
    lo, hi = time_range(start, end)
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"candles|{symbol}|{timeframe}|{lo}|{hi}"
    before = cursors.read(scope, cursor, (int,))
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _MAIN,
        lambda conn: candles_page(
            conn, symbol, timeframe, lo, hi, None if before is None else before[0], size
        ),
        [],
    )
    page = rows[:size]
    items = [_candle(r) for r in reversed(page)]
    more = len(rows) > size
    next_cursor = cursors.make(scope, (page[-1]["ts_open"],)) if more else None
    return CandlePage(items=items, next_cursor=next_cursor)


def _candle(r: dict[str, Any]) -> CandleView:
    return CandleView(
        symbol=r["symbol"],
        timeframe=r["timeframe"],
        ts_open=r["ts_open"],
        opened_at=iso(r["ts_open"]),
        open=r["open"],
        high=r["high"],
        low=r["low"],
        close=r["close"],
        volume=r["volume"],
        tick_count=r["tick_count"],
        complete=bool(r["complete"]),
        revision=r["revision"],
        first_tick_ts=r["first_tick_ts"],
        first_tick_at=iso_or_none(r["first_tick_ts"]),
        last_tick_ts=r["last_tick_ts"],
        last_tick_at=iso_or_none(r["last_tick_ts"]),
        ts=r["ts"],
        time=iso(r["ts"]),
    )


@get(
    "/symbols",
    summary="The symbols with stored ticks, and each one's latest tick",
    description="In name order.",
    responses=RESPONSES,
)
async def symbols(ctx: Ctx, limit: Limit = None, cursor: Cursor = None) -> SymbolPage:
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    after = cursors.read("symbols", cursor, (str,))
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _MAIN, lambda conn: symbols_page(conn, None if after is None else after[0], size), []
    )
    items = [
        SymbolView(
            symbol=r["symbol"],
            bid=r["bid"],
            ask=r["ask"],
            last=r["last"],
            ts=r["ts"],
            time=iso(r["ts"]),
        )
        for r in rows[:size]
    ]
    more = len(rows) > size
    next_cursor = cursors.make("symbols", (rows[size - 1]["symbol"],)) if more else None
    return SymbolPage(items=items, next_cursor=next_cursor)


MARKET_HANDLERS: list[ControllerRouterHandler] = [ticks, candles, symbols]
