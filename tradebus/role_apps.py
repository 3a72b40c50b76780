"""The bundled demo apps, one per role, for ``tradebus run --app`` and ``tradebus up --demo``.

Each is an ``async def app(node) -> None`` that runs until it is cancelled, in a node
hosting its role::

    tradebus run --data-dir data --role chatgpt_bot --monitor simulate \
        --app tradebus.role_apps:chatgpt_bot

Together they show a trade's whole life across three processes:

- :func:`desktop_agent` reads the committed ticks, logs recommendations, rejects some
  and executes the others (``log_trade_execution(..., recommendation_id=...)``); the
  execution's home is the bot's database, where it is delivered from this process.
- :func:`chatgpt_bot` publishes a simulated market feed; the node's position monitor
  (``--monitor simulate``, as ``tradebus up --demo`` runs it) closes a position on its
  stop or its target, and moves the stop
  to the entry once halfway to the target (the exit rule the bot sets on each
  position it finds open); the bot updates the positions (price, P&L) and closes
  them at market after a while.
- :func:`api_server` logs the health of its writer and of the feed, and watches the
  trades: a monitoring record when one opens, and a monitoring record and an alert
  (profit or risk) with each close at market (the monitor reports its own).

What they do is logged (``logging``, logger ``tradebus.role_apps``) at INFO.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import sqlite3
import time
from typing import Any

import anyio
import anyio.to_thread

from eventbus import NotStored
from schemas import HealthStatus

from ._exceptions import AlreadyRecorded, StaleUpdate, TradebusError, UnknownReference
from ._integration import TradeIntegration
from ._market import (
    DEMO_SYMBOLS,
    MAX_HOLD,
    STEP,
    Market,
    halfway,
    log_writer_health,
    pnl,
    propose,
    volume_for,
)
from ._node import Node
from ._status import ProcessStatus
from ._status_file import read_status
from ._trade_watch import TradeWatcher

__all__ = ["api_server", "chatgpt_bot", "desktop_agent"]

logger = logging.getLogger("tradebus.role_apps")

_REFUSED = (AlreadyRecorded, StaleUpdate, UnknownReference, NotStored)
# Another role's database that is missing, or still being created by its writer.
_NOT_READY = (TradebusError, sqlite3.Error)
_NS = 1_000_000_000


# ---------------------------------------------------------------------- chatgpt_bot


async def chatgpt_bot(
    node: Node,
    *,
    symbols: tuple[str, ...] = DEMO_SYMBOLS,
    rate: float = 30.0,
    max_hold: float = MAX_HOLD,
    seed: int | None = None,
) -> None:
    """Publish ``rate`` ticks per second of ``symbols``, and manage the open positions:
    the position monitor (simulating) closes them on their stop or target and moves
    their stop to the entry halfway to the target; the bot closes them at market after
    ``max_hold`` seconds."""
    bot = node.integration("chatgpt_bot")
    # Continue the walk from the last committed prices: a restart is not a price jump.
    prices: dict[str, float] = {}
    for symbol in symbols:
        last = await bot.recent_ticks(symbol, 1)
        if last:
            prices[symbol] = (last[0].bid + last[0].ask) / 2
    # Prices move half as much per second as on the single-process demo's faster
    # feed: a position has time to reach its breakeven stop or its time limit too.
    step = STEP * math.sqrt(1_000 / max(rate / len(symbols), 1e-9)) / 2
    market = Market(symbols, random.Random(seed), prices, step=step)
    logger.info("chatgpt_bot: publishing %s at %g ticks/s", ", ".join(symbols), rate)
    async with anyio.create_task_group() as tg:
        tg.start_soon(market.run, node, rate)
        tg.start_soon(_manage_positions, bot, market, max_hold)


async def _manage_positions(bot: TradeIntegration, market: Market, max_hold: float) -> None:
    seen: set[int] = set()
    updated: dict[int, float] = {}
    while True:
        await anyio.sleep(0.25)
        for p in await bot.open_positions():
            entry, take_profit = p.entry_price, p.take_profit
            if p.symbol not in market.prices or entry is None or take_profit is None:
                continue  # not traded on this feed, or its execution is not in yet
            price = market.prices[p.symbol]
            size = bot.node.contract_sizes.size(p.symbol)
            profit = pnl(p.direction, entry, price, p.volume or 0.0, size)
            held = (time.time_ns() - (p.opened_ts or p.ts)) / _NS
            try:
                if p.ticket not in seen:
                    await _first_seen(bot, p.ticket, p.symbol, entry, take_profit)
                    seen.add(p.ticket)
                    logger.info(
                        "found open position #%d: %s %s %g at %.6g (recommendation %s)",
                        p.ticket, p.direction, p.symbol, p.volume or 0, entry,
                        p.recommendation_id,
                    )  # fmt: skip
                if held > max_hold:
                    await bot.close_position(
                        ticket=p.ticket, symbol=p.symbol, close_price=price, realized_pnl=profit
                    )
                    seen.discard(p.ticket)
                    updated.pop(p.ticket, None)
                    logger.info(
                        "closed #%d %s at market after %.1f s at %.6g: P&L %+.4f",
                        p.ticket, p.symbol, held, price, profit,
                    )  # fmt: skip
                elif time.monotonic() - updated.get(p.ticket, 0.0) > 1.0:
                    updated[p.ticket] = time.monotonic()
                    await bot.update_position(
                        ticket=p.ticket, symbol=p.symbol, current_price=price, unrealized_pnl=profit
                    )
                    logger.debug(
                        "position #%d %s at %.6g: P&L %+.4f", p.ticket, p.symbol, price, profit
                    )
            except _REFUSED as exc:
                logger.warning("position #%d: %s", p.ticket, exc)


async def _first_seen(
    bot: TradeIntegration, ticket: int, symbol: str, entry: float, take_profit: float
) -> None:
    """Give a position the bot sees for the first time its break-even rule, unless it
    has one (set before a restart)."""
    main = await bot.node.shared_reader("main")
    rows = list(
        await main.execute_fetchall("SELECT 1 FROM exit_rules WHERE ticket = ? LIMIT 1", (ticket,))
    )
    if not rows:
        await bot.set_exit_rules(
            ticket=ticket, symbol=symbol, breakeven_trigger=halfway(entry, take_profit)
        )
        logger.info("position #%d: its stop moves to the entry halfway to the target", ticket)


# -------------------------------------------------------------------- desktop_agent


async def desktop_agent(
    node: Node,
    *,
    symbols: tuple[str, ...] = DEMO_SYMBOLS,
    every: float = 2.0,
    seed: int | None = None,
) -> None:
    """About every ``every`` seconds per symbol without an open position: recommend,
    and execute or reject the recommendation."""
    agent = node.integration("desktop_agent")
    rng = random.Random(seed)
    tickets = _Tickets()
    open_now: dict[str, int] = {}
    with contextlib.suppress(*_NOT_READY):  # no database of the bot yet: nothing is open
        open_now = {p.symbol: p.ticket for p in await agent.open_positions()}
    logger.info("desktop_agent: advising on %s", ", ".join(symbols))
    async with anyio.create_task_group() as tg:
        for symbol in symbols:
            advisor = _Advisor(node, agent, rng, tickets, symbol, open_now.get(symbol))
            tg.start_soon(advisor.run, every)


_Health = tuple[str, HealthStatus, dict[str, Any], str]


async def _feed_health(api: TradeIntegration) -> _Health:
    """The feed: ``ok`` while the newest committed tick is under 5 s old."""
    newest: int | None = None
    for symbol in DEMO_SYMBOLS:
        try:
            ticks = await api.recent_ticks(symbol, 1)
        except _NOT_READY:
            ticks = []
        if ticks:
            newest = max(newest or 0, ticks[0].ts)
    if newest is None:
        return "feed", "down", {}, "no ticks yet"
    age = (time.time_ns() - newest) / _NS
    status: HealthStatus = "down" if age >= 60 else "degraded" if age >= 5 else "ok"
    return "feed", status, {"last_tick_age_s": round(age, 1)}, f"last tick {age:.1f} s ago"


async def _process_health(node: Node) -> list[_Health]:
    """Each role's latest process, as the status file says."""
    try:
        status = await anyio.to_thread.run_sync(read_status, node.data_dir)
    except TradebusError:
        return []
    latest: dict[str, ProcessStatus] = {}
    for process in status.processes.values():
        for role in process.roles:
            if role not in latest or process.started > latest[role].started:
                latest[role] = process
    found: list[_Health] = []
    for role, process in sorted(latest.items()):
        state = process.state
        health: HealthStatus = (
            "ok" if state == "running" else "degraded" if state == "stopping" else "down"
        )
        details = {
            "pid": process.pid,
            "state": process.state,
            "events_written": process.events_written,
            "last_error": process.last_error,
        }
        why = f"pid {process.pid} {process.state}"
        found.append((f"process.{role}", health, details, why))
    return found


class _Tickets:
    """Tickets from the wall clock's milliseconds: they grow across restarts too."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, time.time_ns() // 1_000_000)
        return self.last


@dataclasses.dataclass
class _Advisor:
    node: Node
    agent: TradeIntegration
    rng: random.Random
    tickets: _Tickets
    symbol: str
    #: The position this advisor opened and waits to see closed.
    ticket: int | None = None
    waiting: str = ""

    def _wait(self, why: str) -> None:
        if why != self.waiting:
            self.waiting = why
            logger.info("%s: %s", self.symbol, why)

    async def run(self, every: float) -> None:
        while True:
            await anyio.sleep(self.rng.uniform(0.5, 1.5) * every)
            try:
                await self._advise()
            except _REFUSED as exc:
                logger.warning("%s: %s", self.symbol, exc)
            except sqlite3.Error as exc:  # the bot's database is being created
                logger.info("%s: %s; trying again", self.symbol, exc)

    async def _advise(self) -> None:
        if self.ticket is not None:
            status = await self._status(self.ticket)
            if status != "closed":
                why = "to reach the bot's database" if status is None else "to close"
                self._wait(f"waiting for #{self.ticket} {why}")
                return
            self.ticket = None
        try:
            ticks = await self.agent.recent_ticks(self.symbol, 1)
        except _NOT_READY:
            ticks = []  # the bot's database is not there yet
        if not ticks or time.time_ns() - ticks[0].ts > 10 * _NS:
            self._wait("waiting for fresh ticks from the bot")
            return
        self.waiting = ""
        price = (ticks[0].bid + ticks[0].ask) / 2
        proposal = propose(self.rng, self.symbol, price)
        rec_id = await self.agent.log_trade_recommendation(**dataclasses.asdict(proposal))
        logger.info(
            "recommended %s %s at %.6g (stop %.6g, target %.6g, confidence %.0f): %s",
            proposal.direction, self.symbol, price, proposal.stop_loss, proposal.take_profit,
            proposal.confidence, rec_id,
        )  # fmt: skip
        if self.rng.random() < 0.25:
            await self.agent.update_recommendation(recommendation_id=rec_id, status="rejected")
            logger.info("rejected recommendation %s", rec_id)
            return
        ticket = self.tickets.next()
        await self.agent.log_trade_execution(
            ticket=ticket,
            symbol=self.symbol,
            direction=proposal.direction,
            entry_price=price,
            volume=volume_for(price, self.node.contract_sizes.size(self.symbol)),
            stop_loss=proposal.stop_loss,
            take_profit=proposal.take_profit,
            recommendation_id=rec_id,
        )
        self.ticket = ticket
        logger.info("executed #%d following recommendation %s", ticket, rec_id)

    async def _status(self, ticket: int) -> str | None:
        """The committed status of position ``ticket`` (None: not in the database yet)."""
        try:
            main = await self.node.shared_reader("main")
        except _NOT_READY:
            return None
        rows = list(
            await main.execute_fetchall(
                "SELECT status FROM trade_positions WHERE ticket = ?", (ticket,)
            )
        )
        return str(rows[0][0]) if rows else None


# ----------------------------------------------------------------------- api_server


async def api_server(node: Node, *, every: float = 1.0, health_every: float = 5.0) -> None:
    """Log health beats every ``health_every`` seconds, and watch the trades every
    ``every`` seconds: monitoring records and alerts."""
    api = node.integration("api_server")
    watcher = TradeWatcher(node, api)
    await watcher.load()
    logger.info("api_server: watching the trades and the health of the system")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_report_health, node, api, health_every)
        tg.start_soon(watcher.run, every)


async def _report_health(node: Node, api: TradeIntegration, every: float) -> None:
    said: dict[str, HealthStatus] = {}
    while True:
        await log_writer_health(node, "api_server")
        for component, status, details, why in [
            await _feed_health(api),
            *await _process_health(node),
        ]:
            await api.log_system_health(component=component, status=status, details=details)
            if said.get(component) != status:
                said[component] = status
                logger.info("health: %s is %s (%s)", component, status, why)
        await anyio.sleep(every)
