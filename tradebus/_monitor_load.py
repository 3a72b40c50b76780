"""What the position monitor reads from the bot's database at start: the open
positions, their exit rules, the marks it fired before, the OCO groups with their
members' fills and closes, and the candles its ATRs need."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import aiosqlite

from schemas import Candle, ExitRule, MonitorMark, OcoGroup

from ._contracts import ContractSizes
from ._monitor_positions import Watched
from ._oco import OcoBook

__all__ = ["load_candles", "load_marks", "load_members", "load_oco", "load_positions"]


async def _rows(conn: aiosqlite.Connection, sql: str, params: Iterable[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
    return [tuple(r) for r in await conn.execute_fetchall(sql, tuple(params))]


async def load_positions(conn: aiosqlite.Connection, sizes: ContractSizes) -> dict[int, Watched]:
    """Every position not closed, with its execution's ts, its latest exit rule and
    its symbol's contract size in ``sizes``."""
    rows = await _rows(
        conn,
        "SELECT p.ticket, p.symbol, p.direction, p.entry_price, p.volume, p.stop_loss, "
        "p.take_profit, e.ts FROM trade_positions p JOIN trade_executions e "
        "ON e.ticket = p.ticket WHERE p.status <> 'closed'",
    )
    now = time.time_ns()
    watched = {
        ticket: Watched(
            ticket=ticket,
            symbol=symbol,
            direction=direction,
            entry=entry,
            volume=volume or 0.0,
            stop_loss=stop_loss,
            take_profit=take_profit,
            opened_ts=min(ts, now),
            published_stop=stop_loss,
            contract_size=sizes.size(symbol),
        )
        for ticket, symbol, direction, entry, volume, stop_loss, take_profit, ts in rows
        if entry is not None
    }
    rules = await _rows(
        conn,
        "SELECT r.* FROM exit_rules r JOIN trade_positions p ON p.ticket = r.ticket "
        "WHERE p.status <> 'closed' ORDER BY r.event_id",
    )
    fields = ExitRule.__struct_fields__
    for row in rules:
        rule = ExitRule(**dict(zip(fields, row[1:], strict=True)))
        if rule.ticket in watched:
            watched[rule.ticket].rule = rule
            watched[rule.ticket].rule_id = rule.event_id
    return watched


async def load_marks(conn: aiosqlite.Connection) -> list[MonitorMark]:
    """Every mark fired before, oldest first."""
    rows = await _rows(conn, "SELECT * FROM monitor_marks ORDER BY id")
    fields = MonitorMark.__struct_fields__
    return [MonitorMark(**dict(zip(fields, row[1:], strict=True))) for row in rows]


async def load_oco(conn: aiosqlite.Connection, book: OcoBook) -> None:
    """Every OCO group (the first registration of a group_id), and its members' state."""
    rows = await _rows(conn, "SELECT group_id, tickets, ts, event_id FROM oco_groups ORDER BY id")
    for group_id, tickets, ts, event_id in rows:
        book.add(OcoGroup(group_id=group_id, tickets=json.loads(tickets), ts=ts, event_id=event_id))
    await load_members(conn, book, list(book.members))


async def load_members(conn: aiosqlite.Connection, book: OcoBook, tickets: list[int]) -> None:
    """The fills and closes of ``tickets`` (members of OCO groups) committed so far."""
    for start in range(0, len(tickets), 500):
        chunk = tickets[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for ticket, symbol, ts in await _rows(
            conn,
            f"SELECT ticket, symbol, ts FROM trade_executions WHERE ticket IN ({marks})",
            chunk,
        ):
            book.filled(ticket, symbol, ts)
        for ticket, symbol, closed_ts in await _rows(
            conn,
            "SELECT ticket, symbol, closed_ts FROM trade_positions "
            f"WHERE status = 'closed' AND ticket IN ({marks})",
            chunk,
        ):
            book.closed(ticket, symbol, closed_ts)


async def load_candles(
    conn: aiosqlite.Connection, symbol: str, timeframe: str, count: int
) -> list[Candle]:
    """The latest ``count`` candles of ``symbol`` and ``timeframe``, oldest first."""
    rows = await _rows(
        conn,
        "SELECT ts_open, open, high, low, close FROM candles WHERE symbol = ? AND "
        "timeframe = ? ORDER BY ts_open DESC LIMIT ?",
        (symbol, timeframe, count),
    )
    return [
        Candle(
            symbol=symbol,
            timeframe=timeframe,  # type: ignore[arg-type]
            ts_open=ts_open,
            open=o,
            high=h,
            low=low,
            close=c,
        )
        for ts_open, o, h, low, c in reversed(rows)
    ]
