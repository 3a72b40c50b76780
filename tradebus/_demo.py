"""``tradebus demo``: the whole system in one process, on a simulated market."""

from __future__ import annotations

import dataclasses
import itertools
import random
import signal
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.to_thread
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from schemas import Direction
from writers import reader_uri

from ._apps import App
from ._exceptions import AlreadyRecorded
from ._integration import TradeIntegration
from ._market import (
    DEMO_SYMBOLS,
    MAX_HOLD,
    Market,
    halfway,
    log_writer_health,
    pnl,
    propose,
    volume_for,
)
from ._node import Node
from ._open_node import open_node
from ._signals import StopSignals
from ._stats import count_rows

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoConfig:
    data_dir: Path
    seconds: float = 10.0
    symbols: tuple[str, ...] = DEMO_SYMBOLS
    rate: float = 3_000.0
    seed: int | None = None
    #: An app run beside the market (the HTTP API of ``tradebus demo --http``).
    app: App | None = None
    #: Units per lot by symbol (see :class:`ContractSizes`; None: 1.0 for every one).
    contract_sizes: Mapping[str, float] | None = None


@dataclasses.dataclass
class DemoResult:
    """What a run committed, read back from its databases once they were closed.

    Nothing here is counted by the demo's own tasks: a call cancelled after its event
    was committed (or before) cannot make the report disagree with the databases.
    """

    seconds: float = 0.0
    #: Ticks the simulated feed handed to the bus (committed or not).
    ticks_published: int = 0
    #: Rows this run added, per database and table.
    added: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: Positions this run opened, and of those, closed (won, lost) and their P&L.
    opened: int = 0
    closed: int = 0
    wins: int = 0
    losses: int = 0
    realized_pnl: float = 0.0

    @property
    def ticks(self) -> int:
        return self.added.get("main", {}).get("unified_ticks", 0)

    @property
    def recommendations(self) -> int:
        return self.added.get("analysis", {}).get("trade_recommendations", 0)

    @property
    def executions(self) -> int:
        return self.added.get("main", {}).get("trade_executions", 0)


@dataclasses.dataclass
class _Position:
    ticket: int
    symbol: str
    direction: Direction
    entry: float
    stop_loss: float
    take_profit: float
    volume: float
    opened: float


class _Strategy:
    """Recommends and executes one position per symbol at a time, with a break-even
    rule; the position monitor (simulating) closes it on its stop or target, the
    strategy at market after a while."""

    def __init__(self, node: Node, market: Market, first_ticket: int) -> None:
        self._tickets = itertools.count(first_ticket)
        self.market = market
        # For the live view only: the report reads the databases.
        self.opened = 0
        self.closed = 0
        self.realized_pnl = 0.0
        self.bot: TradeIntegration = node.integration("chatgpt_bot")
        self.agent: TradeIntegration = node.integration("desktop_agent")
        self.api: TradeIntegration = node.integration("api_server")
        self.sizes = node.contract_sizes

    async def run(self, symbol: str) -> None:
        rng = self.market.rng
        while True:
            await anyio.sleep(rng.uniform(0.3, 1.0))
            position = await self._open(symbol)
            if position is not None:
                await self._manage(position)

    async def _open(self, symbol: str) -> _Position | None:
        rng = self.market.rng
        price = self.market.prices[symbol]
        proposal = propose(rng, symbol, price)
        recommendation_id = await self.agent.log_trade_recommendation(
            **dataclasses.asdict(proposal)
        )
        if rng.random() < 0.2:
            await self.agent.update_recommendation(
                recommendation_id=recommendation_id, status="rejected"
            )
            return None
        ticket = next(self._tickets)
        volume = volume_for(price, self.sizes.size(symbol))
        await self.bot.log_trade_execution(
            ticket=ticket,
            symbol=symbol,
            direction=proposal.direction,
            entry_price=price,
            stop_loss=proposal.stop_loss,
            take_profit=proposal.take_profit,
            volume=volume,
            recommendation_id=recommendation_id,
        )
        await self.bot.set_exit_rules(
            ticket=ticket,
            symbol=symbol,
            breakeven_trigger=halfway(proposal.entry_price, proposal.take_profit),
        )
        self.opened += 1
        return _Position(
            ticket,
            symbol,
            proposal.direction,
            price,
            proposal.stop_loss,
            proposal.take_profit,
            volume,
            time.monotonic(),
        )

    async def _manage(self, p: _Position) -> None:
        last_update = time.monotonic()
        main = await self.bot.node.shared_reader("main")
        while True:
            await anyio.sleep(0.05)
            rows = list(
                await main.execute_fetchall(
                    "SELECT status, realized_pnl FROM trade_positions WHERE ticket = ?",
                    (p.ticket,),
                )
            )
            if rows and rows[0][0] == "closed":  # the monitor closed it: stop or target
                self._closed(rows[0][1] or 0.0)
                return
            price = self.market.prices[p.symbol]
            profit = pnl(p.direction, p.entry, price, p.volume, self.sizes.size(p.symbol))
            if time.monotonic() - p.opened > MAX_HOLD:
                try:
                    await self.bot.close_position(
                        ticket=p.ticket, symbol=p.symbol, close_price=price, realized_pnl=profit
                    )
                except AlreadyRecorded:
                    continue  # the monitor closed it first: read back next time
                self._closed(profit)
                return
            if time.monotonic() - last_update > 1.0:
                last_update = time.monotonic()
                await self.bot.update_position(
                    ticket=p.ticket, symbol=p.symbol, current_price=price, unrealized_pnl=profit
                )

    def _closed(self, realized_pnl: float) -> None:
        self.closed += 1
        self.realized_pnl += realized_pnl


async def _health(node: Node) -> None:
    while True:
        await log_writer_health(node, "api_server")
        await anyio.sleep(2.0)


def _progress(node: Node, market: Market, strategy: _Strategy, started: float) -> Group:
    elapsed = max(time.monotonic() - started, 1e-9)
    stats = node.statistics()
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]{elapsed:6.1f}s[/]",
        f"ticks {market.ticks:,} ({market.ticks / elapsed:,.0f}/s)",
        f"queue {sum(s.buffered for s in stats.bus.subscriptions):,}",
        f"trades {strategy.opened - strategy.closed} open, {strategy.closed} closed",
        f"P&L {strategy.realized_pnl:+.4f}",
    )
    writes = Table(show_header=True, header_style="bold", box=None)
    writes.add_column("database")
    writes.add_column("table")
    writes.add_column("writes", justify="right")
    for name, writer in stats.writers.items():
        for table, count in writer.rows.items():
            if count:
                writes.add_row(name, table, f"{count:,}")
    note = Text("writes: rows inserted or updated (a replay that changed nothing too)", "dim")
    return Group(head, writes, note)


async def _run_app(app: App, node: Node) -> None:
    await app(node)


async def run_demo(config: DemoConfig, console: Console, stop: StopSignals) -> DemoResult:
    """Run the simulated system until ``config.seconds`` pass or ``stop`` gets a signal.

    The result is read from the databases after they were closed: what this run
    committed, whatever interrupted it.
    """
    rng = random.Random(config.seed)
    market = Market(config.symbols, rng)
    # The position monitor simulates: it closes positions on their stops and targets.
    async with open_node(
        config.data_dir, monitor="simulate", contract_sizes=config.contract_sizes
    ) as node:
        # Read while this node holds every database's lock: no one else adds rows
        # until it closes them, so the difference at the end is this run's.
        before = await anyio.to_thread.run_sync(count_rows, config.data_dir)
        # Tickets continue from an earlier run in the same directory: a reused ticket
        # would be taken for an update of that run's position.
        async with (
            node.reader("main") as conn,
            conn.execute("SELECT coalesce(max(ticket), 100000) + 1 FROM trade_positions") as cursor,
        ):
            (first_ticket,) = await cursor.fetchone() or (100_001,)
        main_path = node.path("main")
        strategy = _Strategy(node, market, first_ticket)
        # The run's seconds count from here: a slow start (a busy machine, a big
        # migration) does not eat into the feed.
        started = time.monotonic()
        live = Live(
            _progress(node, market, strategy, started),
            console=console,
            refresh_per_second=4,
            transient=True,
        )
        with live:
            async with anyio.create_task_group() as tg:
                tg.start_soon(market.run, node, config.rate)
                for symbol in config.symbols:
                    tg.start_soon(strategy.run, symbol)
                tg.start_soon(_health, node)
                if config.app is not None:
                    tg.start_soon(_run_app, config.app, node)
                deadline = started + config.seconds
                while time.monotonic() < deadline and stop.first is None:
                    await anyio.sleep(0.25)
                    live.update(_progress(node, market, strategy, started))
                if stop.first is not None:
                    live.console.print(
                        f"{signal.Signals(stop.first).name}: stopping; the writers commit "
                        "what they hold, then the report shows what is committed",
                        highlight=False,
                    )
                tg.cancel_scope.cancel()
    result = await anyio.to_thread.run_sync(
        _read_result, config.data_dir, main_path, before, first_ticket
    )
    result.ticks_published = market.ticks
    result.seconds = time.monotonic() - started
    return result


def _read_result(
    data_dir: Path, main_path: Path, before: dict[str, dict[str, int]], first_ticket: int
) -> DemoResult:
    after = count_rows(data_dir)
    added = {
        database: {table: n - before.get(database, {}).get(table, 0) for table, n in tables.items()}
        for database, tables in after.items()
    }
    conn = sqlite3.connect(reader_uri(main_path), uri=True)
    try:
        opened, closed, wins, losses, pnl = conn.execute(
            "SELECT count(*), coalesce(sum(status = 'closed'), 0), "
            "coalesce(sum(status = 'closed' AND realized_pnl > 0), 0), "
            "coalesce(sum(status = 'closed' AND realized_pnl < 0), 0), "
            "total(CASE WHEN status = 'closed' THEN realized_pnl END) "
            "FROM trade_positions WHERE ticket >= ?",
            (first_ticket,),
        ).fetchone()
    finally:
        conn.close()
    return DemoResult(
        added=added, opened=opened, closed=closed, wins=wins, losses=losses, realized_pnl=pnl
    )
