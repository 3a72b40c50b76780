"""Scripted tick paths for the position monitor's tests: a node with a monitor, ticks
published one batch each, and what the databases hold afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from schemas import Direction, Tick
from tradebus import Node, PositionMonitor, open_node

MAIN = "unified_tick_pipeline.db"
LOGS = "system_logs.db"
ANALYSIS = "analysis_data.db"


@asynccontextmanager
async def monitored(data_dir: Path, **options: Any) -> AsyncIterator[tuple[Node, PositionMonitor]]:
    """A node hosting every role, with a position monitor started explicitly."""
    async with (
        open_node(data_dir, monitor=None, candles=()) as node,
        PositionMonitor(node, **options) as monitor,
    ):
        yield node, monitor


async def open_position(
    node: Node,
    monitor: PositionMonitor,
    ticket: int,
    *,
    direction: Direction = "BUY",
    entry: float = 100.0,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    volume: float = 1.0,
    symbol: str = "EURUSD",
    ts: int = 1_000,
    **exits: Any,
) -> None:
    """Log an execution (and exit rules, if given), and let the monitor see them."""
    bot = node.integration("chatgpt_bot")
    await bot.log_trade_execution(
        ticket=ticket, symbol=symbol, direction=direction, entry_price=entry, volume=volume,
        stop_loss=stop_loss, take_profit=take_profit, ts=ts,
    )  # fmt: skip
    if exits:
        await bot.set_exit_rules(ticket=ticket, symbol=symbol, **exits)
    await monitor.caught_up()


async def quotes(
    node: Node,
    monitor: PositionMonitor,
    *path: tuple[float, float, int],
    symbol: str = "EURUSD",
) -> None:
    """Publish ticks (bid, ask, ts), each handled (a batch of its own) before the next."""
    for bid, ask, ts in path:
        await node.bus.publish(Tick(symbol=symbol, bid=bid, ask=ask, ts=ts))
        await monitor.caught_up()


def rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def monitoring(data_dir: Path, kind: str | None = None) -> list[tuple[Any, ...]]:
    """(ticket, monitoring_type, status, details) of the monitoring records, in order."""
    sql = "SELECT ticket, monitoring_type, status, details FROM trade_monitoring"
    found = rows(data_dir / LOGS, sql + " ORDER BY id")
    return [r for r in found if kind is None or r[1] == kind]


def alerts(data_dir: Path) -> list[tuple[Any, ...]]:
    """(ticket, alert_type, severity, message) of the alerts, in order."""
    return rows(
        data_dir / LOGS,
        "SELECT ticket, alert_type, severity, message FROM trade_alerts ORDER BY id",
    )


def position(data_dir: Path, ticket: int) -> tuple[Any, ...]:
    """(status, stop_loss, take_profit, close_price, realized_pnl) of a position."""
    [row] = rows(
        data_dir / MAIN,
        "SELECT status, stop_loss, take_profit, close_price, realized_pnl FROM trade_positions "
        "WHERE ticket = ?",
        (ticket,),
    )
    return row


def dead_letters(data_dir: Path) -> int:
    return sum(
        rows(data_dir / name, "SELECT count(*) FROM dead_letters")[0][0]
        for name in (MAIN, LOGS, ANALYSIS)
        if (data_dir / name).exists()
    )
