"""The position monitor's state and its work on ticks: examine each position of a
tick's symbol, fire what is due once (a mark, then the events it derives), close when
simulating, and publish the stops its exit rules moved, once per batch."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import anyio

from eventbus import BusClosed, Headers, Message, Subscription
from schemas import (
    Event,
    ExitRule,
    InvalidEvent,
    MonitorMark,
    PositionUpdate,
    Tick,
    TradeAlert,
    TradeMonitoring,
    derived_event_id,
    symbol_token,
)

from ._contracts import ContractSizes
from ._exits import AtrBook, sign_of
from ._monitor_closer import CloseOrder, Closer
from ._monitor_marks import CLOSE_INDEX, PNL_ALERT_INDEX, derived_events, make_mark
from ._monitor_positions import Fired, MarkKey, Watched, examine
from ._monitor_stats import Counters
from ._oco import OcoBook

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["MonitorCore", "MonitorMode", "mark_key"]

logger = logging.getLogger("tradebus.monitor")

MonitorMode = Literal["observe", "simulate"]
_HIT_COUNTERS = {"stop_loss_hit": "stop_loss_hits", "take_profit_hit": "take_profit_hits"}


def mark_key(mark: MonitorMark) -> MarkKey:
    return (mark.ticket, mark.kind, mark.level, mark.ref)


class MonitorCore:
    """The state of a position monitor, and its tick loop."""

    def __init__(
        self,
        node: Node,
        *,
        mode: MonitorMode,
        role: str,
        name: str,
        loss_alerts: Sequence[float],
        profit_alerts: Sequence[float],
        contract_sizes: ContractSizes,
        max_batch: int,
    ) -> None:
        self.node = node
        self.mode: MonitorMode = mode
        self.role = role
        self.name = name
        self._loss = tuple(loss_alerts)
        self._profit = tuple(profit_alerts)
        #: Units per lot by symbol: what its P&L (money) is computed with.
        self.contract_sizes = contract_sizes
        self._max_batch = max_batch
        self._headers = Headers(origin=name)
        self._positions: dict[int, Watched] = {}
        self._by_symbol: dict[str, list[Watched]] = {}
        #: Exit rules of tickets whose execution is not seen yet.
        self._rules: dict[int, ExitRule] = {}
        #: Tickets seen closed (an execution delivered again does not reopen them).
        self._closed: set[int] = set()
        self._fired: set[MarkKey] = set()
        self._oco = OcoBook()
        self._atr = AtrBook()
        self._counters = Counters()
        self._last_ts: dict[str, int] = {}
        self._last_seq = 0
        self._ticks: Subscription | None = None
        self._retired: list[Subscription] = []
        self._tick_symbols: frozenset[str] = frozenset()
        self._tick_wait: anyio.CancelScope | None = None
        self._wake = anyio.Event()
        self._closer = Closer(node, role, self._counters, self._headers)
        #: The member that triggered each OCO group, once its mark is fired.
        self._oco_triggers: dict[str, int] = {}
        #: Simulating: the OCO members to close at their next tick (no price seen yet).
        self._oco_closes: dict[int, MonitorMark] = {}

    # ------------------------------------------------------------ the positions

    def _index(self, p: Watched) -> None:
        self._by_symbol.setdefault(p.symbol, []).append(p)

    def _forget(self, ticket: int) -> None:
        p = self._positions.pop(ticket, None)
        if p is None:
            return
        same = self._by_symbol.get(p.symbol, [])
        if p in same:
            same.remove(p)
        if not same:
            self._by_symbol.pop(p.symbol, None)

    def _resubscribe(self) -> None:
        """Receive the ticks of the symbols with positions, and no others."""
        symbols = frozenset(self._by_symbol)
        if symbols == self._tick_symbols:
            return
        self._tick_symbols = symbols
        old = self._ticks
        self._ticks = None
        if symbols:
            self._ticks = self.node.bus.subscribe(
                [f"market.tick.{symbol_token(s)}" for s in sorted(symbols)],
                name=f"{self.name}.ticks",
                echo=False,
                max_buffer=100_000,
            )
        if old is not None:
            self._retired.append(old)
        if self._tick_wait is not None:
            self._tick_wait.cancel()
        self._wake.set()

    # --------------------------------------------------------------- tick loop

    async def _tick_loop(self) -> None:
        while True:
            while self._retired:  # what a replaced subscription still holds first
                old = self._retired[0]
                try:
                    while batch := old.receive_batch_nowait(self._max_batch):
                        await self._on_ticks(batch)
                except BusClosed:
                    pass
                old.close()
                self._retired.remove(old)
            sub = self._ticks
            if sub is None:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            batch = []
            with anyio.CancelScope() as scope:
                self._tick_wait = scope
                try:
                    batch = await sub.receive_batch(self._max_batch)
                except BusClosed:
                    return
            self._tick_wait = None
            if batch:
                await self._on_ticks(batch)
                if not sub.closed:
                    sub.ack(len(batch))

    async def _on_ticks(self, batch: list[Message[Tick]]) -> None:
        counters = self._counters
        fired: list[tuple[Watched, Fired, int]] = []
        moved: dict[int, Watched] = {}
        for message in batch:
            if message.seq <= self._last_seq:
                continue  # seen through the subscription it replaced
            self._last_seq = message.seq
            tick = message.event
            positions = self._by_symbol.get(tick.symbol)
            if not positions:
                continue
            counters.ticks += 1
            ts = tick.ts
            if ts < self._last_ts.get(tick.symbol, 0):
                counters.late_ticks += 1
                continue
            self._last_ts[tick.symbol] = ts
            for p in tuple(positions):
                if ts < p.opened_ts:
                    continue  # a quote from before the position existed
                if self._oco_closes and p.ticket in self._oco_closes:
                    price = tick.ask if p.direction == "SELL" else tick.bid
                    self._close_now(p, self._oco_closes.pop(p.ticket), price)
                    continue
                atr = None
                rule = p.rule
                if rule is not None and rule.trailing_atr is not None:
                    atr = self._atr.atr(p.symbol, rule.atr_timeframe, rule.atr_period)
                for f in examine(
                    p, bid=tick.bid, ask=tick.ask, ts=ts, atr=atr, fired=self._fired,
                    loss_levels=self._loss, profit_levels=self._profit,
                ):  # fmt: skip
                    self._fired.add((p.ticket, f.kind, f.level, ""))
                    fired.append((p, f, ts))
                    if self.mode == "simulate" and f.kind in _HIT_COUNTERS:
                        p.closing = True
                        self._forget(p.ticket)
                if p.moves:
                    moved[p.ticket] = p
        if fired:
            await self._fire(fired)
        if moved:
            await self._publish_moves(list(moved.values()))

    # ------------------------------------------------------------------ firing

    async def _publish(self, *events: Event) -> None:
        """Publish ``events``; one that validation refuses is reported (logged,
        counted) and left out, never raised: the monitor carries on."""
        for event in events:
            try:
                await self.node.bus.publish(event, headers=self._headers)
            except InvalidEvent as exc:
                self._counters.refused_events += 1
                logger.error("position monitor: not published (refused): %s", exc)

    async def _fire(self, fired: list[tuple[Watched, Fired, int]]) -> None:
        """Store the marks (committed, so that none fires twice), then publish what
        each derives, and close the positions whose stop or target was hit when
        simulating."""
        marks = []
        for p, f, ts in fired:
            marks.append(
                make_mark(
                    ticket=p.ticket, symbol=p.symbol, kind=f.kind, level=f.level,
                    severity=f.severity, message=f.message, ts=ts, price=f.price,
                )
            )  # fmt: skip
            counter = _HIT_COUNTERS.get(f.kind)
            if counter is not None:
                setattr(self._counters, counter, getattr(self._counters, counter) + 1)
                self._counters.gaps += f.gap
            else:
                self._counters.pnl_alerts += 1
            logger.info("position monitor: %s", f.message)
        await self._commit_marks(marks)
        for (p, _, _), mark in zip(fired, marks, strict=True):
            await self._publish(*derived_events(mark))
            if p.closing and mark.kind in _HIT_COUNTERS:
                assert mark.price is not None
                self._close(p, mark, mark.price)

    async def _commit_marks(self, marks: list[MonitorMark]) -> None:
        await self.node.bus.publish_many(marks, headers=self._headers, wait=True)

    def _close(self, p: Watched, mark: MonitorMark, price: float) -> None:
        """Close ``p`` at ``price`` for ``mark`` (the close's event_id derives from the
        mark's: closing again after a restart stores nothing new)."""
        pnl = round((price - p.entry) * sign_of(p.direction) * p.volume * p.contract_size, 10)
        alert = None
        if not math.isfinite(pnl):
            # Closed all the same (the hit is real), without the figure it cannot store.
            message = (
                f"{p.symbol} #{p.ticket} closed at {price:.10g} without a realized P&L: "
                f"{self._overflow(p, price)}"
            )
            self._non_finite_pnl(message)
            alert = TradeAlert(
                alert_type="system", severity="warning", message=message, symbol=p.symbol,
                ticket=p.ticket, ts=mark.ts,
                event_id=derived_event_id(mark.event_id, PNL_ALERT_INDEX),
            )  # fmt: skip
        self._closer.put(
            CloseOrder(
                ticket=p.ticket,
                symbol=p.symbol,
                price=price,
                realized_pnl=None if alert is not None else pnl,
                event_id=derived_event_id(mark.event_id, CLOSE_INDEX),
                alert=alert,
            )
        )

    @staticmethod
    def _overflow(p: Watched, price: float) -> str:
        return (
            f"(price - entry) x volume x contract size = ({price:.10g} - {p.entry:.10g}) x "
            f"{p.volume:.10g} x {p.contract_size:.10g} is beyond the range of a float"
        )

    def _non_finite_pnl(self, message: str) -> None:
        self._counters.non_finite_pnl += 1
        logger.error("position monitor: %s", message)

    async def _fire_oco(self, group_id: str) -> None:
        due = [
            c for c in self._oco.evaluate(group_id, self._oco_triggers.get(group_id))
            if (c.ticket, c.kind, 0.0, group_id) not in self._fired
        ]  # fmt: skip
        if not due:
            return
        marks = [
            make_mark(
                ticket=c.ticket, symbol=c.symbol, kind=c.kind, level=0.0,
                severity=c.severity, message=c.message, ts=self._oco.groups[group_id].ts,
                ref=group_id,
            )
            for c in due
        ]  # fmt: skip
        for c in due:
            self._fired.add((c.ticket, c.kind, 0.0, group_id))
            if c.kind == "oco_triggered":
                self._oco_triggers[group_id] = c.ticket
            self._counters.oco_triggers += c.kind == "oco_triggered"
            self._counters.oco_both_live += c.kind == "oco_both_live"
            log = logger.error if c.severity == "critical" else logger.info
            log("position monitor: %s", c.message)
        await self._commit_marks(marks)
        for mark in marks:
            await self._publish(*derived_events(mark))
            self._close_for_oco(mark)

    def _close_for_oco(self, mark: MonitorMark) -> None:
        """Simulating, close the open position an OCO trigger says to close, at its
        latest price on its closing side, or at its next tick's if none is known yet."""
        if self.mode != "simulate" or mark.kind != "oco_close_position":
            return
        p = self._positions.get(mark.ticket)
        if p is None or p.closing:
            return  # closed already (or being closed)
        if p.price is None:
            self._oco_closes[p.ticket] = mark
        else:
            self._close_now(p, mark, p.price)

    def _close_now(self, p: Watched, mark: MonitorMark, price: float) -> None:
        p.closing = True
        self._forget(p.ticket)
        self._close(p, mark, price)

    async def _publish_moves(self, moved: list[Watched]) -> None:
        """One position update (the new stop) and a monitoring record per kind of
        move, for each position whose stop moved in the batch."""
        events: list[Event] = []
        for p in moved:
            kinds, p.moves = p.moves, []
            if p.closing or p.stop_loss is None or p.stop_loss == p.published_stop:
                continue
            before, p.published_stop = p.published_stop, p.stop_loss
            assert p.price is not None
            pnl = p.pnl
            if pnl is not None and not math.isfinite(pnl):
                pnl = None
                self._non_finite_pnl(
                    f"{p.symbol} #{p.ticket} stop loss moved to {p.stop_loss:.10g} without an "
                    f"unrealized P&L: {self._overflow(p, p.price)}"
                )
            events.append(
                PositionUpdate(
                    ticket=p.ticket, symbol=p.symbol, status="modified", current_price=p.price,
                    stop_loss=p.stop_loss, unrealized_pnl=pnl,
                )
            )  # fmt: skip
            for kind in dict.fromkeys(kinds):
                if kind == "breakeven_set":
                    self._counters.breakevens += 1
                    status = "stop_moved"
                else:
                    self._counters.trailing_moves += 1
                    status = "stop_trailed"
                events.append(
                    TradeMonitoring(
                        ticket=p.ticket,
                        symbol=p.symbol,
                        monitoring_type=kind,
                        status=status,
                        details=(
                            f"{p.symbol} #{p.ticket} stop loss moved from "
                            f"{before if before is None else f'{before:.10g}'} to "
                            f"{p.stop_loss:.10g} ({kind}) at {p.price:.10g}"
                        ),
                    )
                )
        await self._publish(*events)
