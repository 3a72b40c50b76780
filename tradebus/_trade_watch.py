"""The api_server app's watch of the trades: monitoring records and alerts, each once."""

from __future__ import annotations

import logging
import sqlite3
import time

import aiosqlite
import anyio

from eventbus import NotStored
from schemas import derived_event_id

from ._exceptions import AlreadyRecorded, StaleUpdate, TradebusError, UnknownReference
from ._integration import TradeIntegration
from ._market import close_details, close_reason
from ._node import Node

__all__ = ["TradeWatcher"]

logger = logging.getLogger("tradebus.role_apps")

_REFUSED = (AlreadyRecorded, StaleUpdate, UnknownReference, NotStored)
_NS = 1_000_000_000
#: The closes the position monitor reports (monitoring record and alert) itself.
_MONITORED = frozenset({"stop_loss_hit", "take_profit_hit"})
# The bot's database missing, or still being created by its writer.
_NOT_READY = (TradebusError, sqlite3.Error)


class TradeWatcher:
    """Monitoring and alerts for the trades in the bot's database, each logged once:
    openings, and closes at market (the position monitor reports stops, targets and
    break-even moves itself).

    The records of an opening and a close carry event ids derived from the trade's
    own events, so that a restarted watcher logging them again stores nothing twice.
    """

    def __init__(self, node: Node, api: TradeIntegration) -> None:
        self.node = node
        self.api = api
        self.since = time.time_ns() - 3600 * _NS  # a restart looks back an hour
        self.last_rowid = 0
        self.closed_since = self.since
        self.done: set[tuple[int, str]] = set()

    async def load(self) -> None:
        """What this role logged already (before a restart)."""
        logs = await self.node.shared_reader("logs")
        rows = await logs.execute_fetchall(
            "SELECT ticket, monitoring_type FROM trade_monitoring WHERE ts >= ?", (self.since,)
        )
        self.done = {(int(ticket), str(kind)) for ticket, kind in rows}

    async def run(self, every: float) -> None:
        while True:
            await anyio.sleep(every)
            try:
                main = await self.node.shared_reader("main")
            except _NOT_READY:
                continue  # the bot's database is not there yet
            try:
                await self._openings(main)
                await self._closes(main)
            except _REFUSED as exc:
                logger.warning("watching the trades: %s", exc)
            except sqlite3.Error as exc:  # the bot's database is being created
                logger.info("watching the trades: %s; trying again", exc)

    async def _openings(self, main: aiosqlite.Connection) -> None:
        rows = await main.execute_fetchall(
            "SELECT rowid, ticket, symbol, direction, volume, entry_price, recommendation_id, "
            "event_id FROM trade_executions WHERE rowid > ? AND ts >= ? ORDER BY rowid",
            (self.last_rowid, self.since),
        )
        for rowid, ticket, symbol, direction, volume, entry, rec_id, event_id in rows:
            self.last_rowid = rowid
            if (ticket, "position_opened") in self.done:
                continue
            await self.api.log_trade_monitoring(
                ticket=ticket,
                symbol=symbol,
                monitoring_type="position_opened",
                status="open",
                details=f"{direction} {volume:g} at {entry:.6g}, following {rec_id}",
                event_id=derived_event_id(event_id, 2),
            )
            self.done.add((ticket, "position_opened"))
            logger.info("monitoring: #%d %s opened (%s at %.6g)", ticket, symbol, direction, entry)

    async def _closes(self, main: aiosqlite.Connection) -> None:
        rows = await main.execute_fetchall(
            "SELECT ticket, symbol, direction, stop_loss, take_profit, close_price, "
            "realized_pnl, event_id, closed_ts FROM trade_positions "
            "WHERE status = 'closed' AND closed_ts >= ? ORDER BY closed_ts",
            (self.closed_since,),
        )
        for ticket, symbol, direction, stop_loss, take_profit, price, profit, event_id, ts in rows:
            # Closes are committed by their own writer as they happen: a minute covers
            # any that sort before the newest seen.
            self.closed_since = max(self.closed_since, ts - 60 * _NS)
            if stop_loss is None or take_profit is None:
                kind, details = "position_closed", f"Closed at {price:.6g}"
            else:
                kind = close_reason(
                    direction=direction, stop_loss=stop_loss, take_profit=take_profit, price=price
                )
                details = close_details(kind, stop_loss, take_profit)
            if (ticket, kind) in self.done or kind in _MONITORED:
                continue  # the position monitor reports its stops and targets
            profit = profit or 0.0
            message = f"{symbol} #{ticket} closed ({kind}): P&L {profit:+.4f}"
            # The alert first: the monitoring record marks the close as done.
            await self.api.log_trade_alert(
                alert_type="profit" if profit > 0 else "risk",
                severity="info" if profit >= 0 else "warning",
                message=message,
                symbol=symbol,
                ticket=ticket,
                event_id=derived_event_id(event_id, 3),
            )
            await self.api.log_trade_monitoring(
                ticket=ticket,
                symbol=symbol,
                monitoring_type=kind,
                status="alert_triggered",
                details=details,
                event_id=derived_event_id(event_id, 2),
            )
            self.done.add((ticket, kind))
            logger.info("alert: %s", message)
