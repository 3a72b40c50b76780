"""The position monitor: a service on the bus that watches every open position's
stop loss and take profit on the right side of the book, applies its exit rules
(trailing stop, break-even move), tracks OCO groups, and raises risk and profit
alerts, each fired once, also across restarts."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
from anyio.abc import TaskGroup

from eventbus import BusClosed, Subscription
from schemas import (
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    OcoGroup,
    PositionUpdate,
    TradeExecution,
    event_id_ts,
)

from ._contracts import ContractSizes, shown
from ._exceptions import TradebusError
from ._monitor_core import MonitorCore, MonitorMode, mark_key
from ._monitor_load import load_candles, load_marks, load_members, load_oco, load_positions
from ._monitor_marks import derived_events
from ._monitor_positions import Watched
from ._monitor_stats import MonitorStatistics

if TYPE_CHECKING:
    from ._node import Node

__all__ = [
    "MonitorMode",
    "MonitorStatistics",
    "PositionMonitor",
    "alert_levels",
    "check_monitor_mode",
]

logger = logging.getLogger("tradebus.monitor")

_MODES = ("observe", "simulate")


def check_monitor_mode(mode: object) -> None:
    """:raises TradebusError: naming ``mode`` and the modes there are."""
    if mode not in _MODES:
        raise TradebusError(
            f"the position monitor's mode must be 'observe' or 'simulate' (or None for no "
            f"monitor), got {mode!r}"
        )


def alert_levels(option: str, levels: object) -> tuple[float, ...]:
    """``levels`` (amounts of money) as the monitor compares them: sorted, each once.

    :raises TradebusError: naming ``option``, the value and what is allowed: a list
        of numbers > 0 that are finite as floats (a bool is not a number here).
    """
    if not isinstance(levels, Iterable) or isinstance(levels, str | bytes | Mapping):
        raise TradebusError(
            f"PositionMonitor {option} must be a list of amounts (money, numbers > 0), "
            f"got {shown(levels)}"
        )
    checked = []
    for i, value in enumerate(levels):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # An int too large for a float is not < inf as a float: compared before converting.
        if not (number and 0 < value <= sys.float_info.max):
            raise TradebusError(
                f"PositionMonitor {option}[{i}] must be a finite number > 0 (an amount of "
                f"money, in the quote currency), got {shown(value)}"
            )
        checked.append(float(value))
    return tuple(sorted(set(checked)))


_NS = 1_000_000_000
_TRADE_TOPICS = (
    "trade.execution.>",
    "trade.position.>",
    "trade.exit_rule.>",
    "trade.oco.>",
    "market.candle.>",
)


class PositionMonitor(MonitorCore):
    """Watches the open positions of the bot's database: ``async with
    PositionMonitor(node, mode="simulate") as monitor: ...`` (inside ``open_node``,
    on the node that hosts the bot's database).

    :param mode: ``observe`` (a hit is reported: monitoring record and alert; the
        broker closes the position and the bot logs the real fill) or ``simulate``
        (the monitor also closes the position at the triggering tick's price, with its
        realized P&L, as ``role``).
    :param loss_alerts: unrealized losses (money, > 0) that raise a risk alert, once
        per position and level.
    :param profit_alerts: unrealized profits (money, > 0) that raise a profit alert.
        Money is price distance x volume x the symbol's contract size, in its quote
        currency.
    :param contract_sizes: units per lot by symbol (``"*"``: every symbol not named;
        see :class:`ContractSizes`); None (the default): the node's
        (``open_node(contract_sizes=...)``). A position takes its symbol's size when
        the monitor first sees it (at its execution, or at the monitor's start).
    :param replay_window: seconds: at start, the alerts and monitoring records of the
        marks fired this recently are published again (a no-op where they are stored),
        so that a stop between a mark and its alert loses no alert.

    :raises AccessDenied: on entering, if the node does not host the bot's database
        (the monitor's memory), or, simulating, the role ``role``.
    """

    def __init__(
        self,
        node: Node,
        *,
        mode: MonitorMode = "observe",
        role: str = "chatgpt_bot",
        name: str = "position-monitor",
        loss_alerts: Sequence[float] = (),
        profit_alerts: Sequence[float] = (),
        contract_sizes: Mapping[str, float] | None = None,
        max_batch: int = 5_000,
        replay_window: float = 3_600.0,
    ) -> None:
        check_monitor_mode(mode)
        super().__init__(
            node,
            mode=mode,
            role=role,
            name=name,
            loss_alerts=alert_levels("loss_alerts", loss_alerts),
            profit_alerts=alert_levels("profit_alerts", profit_alerts),
            contract_sizes=(
                node.contract_sizes
                if contract_sizes is None
                else ContractSizes(contract_sizes, option="PositionMonitor contract_sizes")
            ),
            max_batch=max_batch,
        )
        self._replay_window = replay_window
        self._trades: Subscription | None = None
        self._marks: list[MonitorMark] = []
        self._tg: TaskGroup | None = None
        self._loops = anyio.CancelScope()

    # ---------------------------------------------------------------- lifetime

    async def __aenter__(self) -> Self:
        # It writes what it must remember into the bot's database: this node's.
        self.node.writer("main")
        if self.mode == "simulate":
            self.node.integration(self.role)  # it closes positions as this role
        bus = self.node.bus
        self._trades = bus.subscribe(_TRADE_TOPICS, name=self.name, echo=False, max_buffer=100_000)
        try:
            # What was published before is committed: the database has it all.
            await bus.flush()
            await self._load()
            self._resubscribe()
            self._tg = anyio.create_task_group()
            await self._tg.__aenter__()
        except BaseException:
            self._close_subscriptions()
            raise
        self._closer.open()
        self._tg.start_soon(self._closer.run)
        self._tg.start_soon(self._run_loops)
        await self._replay()
        logger.info(
            "position monitor (%s): %d open positions, %d marks, %d OCO groups",
            self.mode, len(self._positions), len(self._fired), len(self._oco.groups),
        )  # fmt: skip
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._loops.cancel()
        self._closer.finish()
        assert self._tg is not None
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._close_subscriptions()
            if exc_type is None and not self.node.bus.closed:
                with anyio.CancelScope(shield=True):
                    await self.node.bus.flush()

    def _close_subscriptions(self) -> None:
        for sub in (self._trades, self._ticks, *self._retired):
            if sub is not None and not sub.closed:
                sub.close()

    async def _run_loops(self) -> None:
        with self._loops:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._trade_loop)
                tg.start_soon(self._tick_loop)

    async def caught_up(self) -> None:
        """Return once the monitor has handled every event published before the call,
        and what it published in turn (marks, alerts, moved stops, simulated closes,
        and what those closes bring about) is committed."""
        bus = self.node.bus
        seq = -1
        while seq != bus.published:
            seq = bus.published
            if self._trades is not None and not self._trades.closed:
                await self._trades.wait_done(seq)
            # A tick subscription acknowledges a batch once handled; a replaced one
            # closes once drained.
            for ticks in (*self._retired, self._ticks):
                if ticks is not None and not ticks.closed:
                    await ticks.wait_done(seq)
            await self._closer.idle()
            await bus.flush()

    def statistics(self) -> MonitorStatistics:
        """What the monitor watches and did since it started."""
        return self._counters.snapshot(
            mode=self.mode, positions=len(self._positions), symbols=len(self._by_symbol)
        )

    # ---------------------------------------------------------------- start-up

    async def _load(self) -> None:
        async with self.node.reader("main") as conn:
            self._positions = await load_positions(conn, self.contract_sizes)
            self._marks = await load_marks(conn)
            self._fired = {mark_key(m) for m in self._marks}
            self._oco_triggers = {
                m.ref: m.ticket for m in self._marks if m.kind == "oco_triggered" and m.ref
            }
            await load_oco(conn, self._oco)
            for p in self._positions.values():
                self._index(p)
        for p in self._positions.values():
            if p.rule is not None:
                await self._track_atr(p.rule)

    async def _replay(self) -> None:
        """Publish again what recent marks derive (a no-op where stored), and, when
        simulating, close the positions whose hit was marked but not closed."""
        since_ms = (time.time_ns() - int(self._replay_window * _NS)) // 1_000_000
        for mark in self._marks:
            if event_id_ts(mark.event_id) >= since_ms:  # fired (wall clock) recently
                await self._publish(*derived_events(mark))
            p = self._positions.get(mark.ticket)
            hit = p is not None and self._is_current_hit(p, mark)
            if p is not None and hit and self.mode == "simulate" and mark.price is not None:
                p.closing = True
                self._forget(p.ticket)
                self._close(p, mark, mark.price)
            elif p is not None:
                self._close_for_oco(mark)  # an OCO close marked but not done
        self._marks = []  # only needed at start
        self._resubscribe()
        for group_id in list(self._oco.groups):  # fills and closes while it was stopped
            await self._fire_oco(group_id)

    @staticmethod
    def _is_current_hit(p: Watched, mark: MonitorMark) -> bool:
        return (mark.kind == "stop_loss_hit" and mark.level == p.stop_loss) or (
            mark.kind == "take_profit_hit" and mark.level == p.take_profit
        )

    async def _track_atr(self, rule: ExitRule) -> None:
        if rule.trailing_atr is None or self._atr.wants(rule.symbol, rule.atr_timeframe):
            return
        self._atr.track(rule.symbol, rule.atr_timeframe)
        count = rule.atr_period + 2
        async with self.node.reader("main") as reader:
            candles = await load_candles(reader, rule.symbol, rule.atr_timeframe, count)
        self._atr.add(candles)

    # -------------------------------------------------------------- trade loop

    async def _trade_loop(self) -> None:
        assert self._trades is not None
        while True:
            try:
                batch = await self._trades.receive_batch(self._max_batch)
            except BusClosed:
                return
            for message in batch:
                await self._on_trade(message.event)
            self._trades.ack(len(batch))
            self._resubscribe()

    async def _on_trade(self, event: Event) -> None:
        if isinstance(event, Candle):
            self._atr.add((event,))
        elif isinstance(event, TradeExecution):
            await self._on_execution(event)
        elif isinstance(event, PositionUpdate):
            await self._on_update(event)
        elif isinstance(event, ExitRule):
            await self._on_rule(event)
        elif isinstance(event, OcoGroup) and self._oco.add(event):
            unknown = self._oco.unknown_members()
            if unknown:
                async with self.node.reader("main") as conn:
                    await load_members(conn, self._oco, unknown)
            await self._fire_oco(event.group_id)

    async def _on_execution(self, e: TradeExecution) -> None:
        for group_id in self._oco.filled(e.ticket, e.symbol, e.ts):
            await self._fire_oco(group_id)
        if e.ticket in self._positions or e.ticket in self._closed:
            return
        p = Watched(
            ticket=e.ticket,
            symbol=e.symbol,
            direction=e.direction,
            entry=e.entry_price,
            volume=e.volume,
            stop_loss=e.stop_loss,
            take_profit=e.take_profit,
            opened_ts=min(e.ts, time.time_ns()),
            published_stop=e.stop_loss,
            contract_size=self.contract_sizes.size(e.symbol),
        )
        rule = self._rules.pop(e.ticket, None)
        self._positions[e.ticket] = p
        self._index(p)
        if rule is not None:
            await self._on_rule(rule)

    async def _on_update(self, u: PositionUpdate) -> None:
        if u.status == "closed":
            self._closed.add(u.ticket)
            self._forget(u.ticket)
            for group_id in self._oco.closed(u.ticket, u.symbol, u.ts):
                await self._fire_oco(group_id)
            return
        p = self._positions.get(u.ticket)
        if p is None:
            return
        if u.stop_loss is not None:
            p.stop_loss = p.published_stop = u.stop_loss
        if u.take_profit is not None:
            p.take_profit = u.take_profit
        if u.volume is not None:
            p.volume = u.volume

    async def _on_rule(self, rule: ExitRule) -> None:
        active = (
            rule
            if (rule.trailing_distance or rule.trailing_atr or rule.breakeven_trigger)
            else None
        )
        p = self._positions.get(rule.ticket)
        if p is None:
            pending = self._rules.get(rule.ticket)
            if rule.ticket not in self._closed and (
                pending is None or pending.event_id < rule.event_id
            ):
                self._rules[rule.ticket] = rule
            return
        if rule.event_id < p.rule_id:
            return  # an older rule delivered late
        p.rule, p.rule_id = active, rule.event_id
        if active is not None:
            await self._track_atr(active)
