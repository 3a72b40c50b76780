"""Simulated closes: the position monitor closes a position the way a bot does
(``close_position``, checked and committed), in a task of its own so that waiting
for the commit never holds up the ticks. A close that validation refuses is
reported (logged, counted), never raised: the monitor carries on."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from eventbus import Headers, NotStored
from schemas import InvalidEvent, TradeAlert

from ._exceptions import ReferenceRefused, UnknownReference
from ._monitor_stats import Counters

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["CloseOrder", "Closer"]

logger = logging.getLogger("tradebus.monitor")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CloseOrder:
    ticket: int
    symbol: str
    price: float
    #: None if it was no finite number (``alert`` says so).
    realized_pnl: float | None
    #: Derived from the hit's mark: a close repeated after a restart is the same event.
    event_id: str
    #: Published once the close is stored (its id derived from the mark's too).
    alert: TradeAlert | None = None


class Closer:
    """Closes positions in order, once each; :meth:`finish` lets it close what it was
    given and stop."""

    def __init__(self, node: Node, role: str, counters: Counters, headers: Headers) -> None:
        self._node = node
        self._role = role
        self._counters = counters
        self._headers = headers
        self._pending = 0
        self._idle = anyio.Event()
        self._send: MemoryObjectSendStream[CloseOrder] | None = None
        self._receive: MemoryObjectReceiveStream[CloseOrder] | None = None

    def open(self) -> None:
        """Take orders (once :meth:`run` runs, it closes them)."""
        self._send, self._receive = anyio.create_memory_object_stream[CloseOrder](math.inf)

    def put(self, order: CloseOrder) -> None:
        assert self._send is not None, "put() before open()"
        self._pending += 1
        self._send.send_nowait(order)

    async def idle(self) -> None:
        """Return once every close given so far is done."""
        if self._pending:
            await self._idle.wait()

    def finish(self) -> None:
        """Close what is given, then stop (or, if :meth:`run` never ran, drop it all)."""
        if self._send is not None:
            self._send.close()

    async def run(self) -> None:
        api = self._node.integration(self._role)
        assert self._receive is not None, "run() before open()"
        async with self._receive:
            async for order in self._receive:
                try:
                    try:
                        await self._close(api, order)
                    except UnknownReference:
                        # Its execution is on its way to the writer: once committed, again.
                        await self._node.bus.flush()
                        await self._close(api, order)
                    self._counters.closes += 1
                    if order.alert is not None:
                        await self._node.bus.publish(order.alert, headers=self._headers)
                except (ReferenceRefused, NotStored) as exc:
                    self._counters.close_errors += 1
                    logger.warning("position monitor: closing #%d: %s", order.ticket, exc)
                except InvalidEvent as exc:
                    # A close it made that validation refuses: the position stays open
                    # in the database (its next start tries again); no reason to stop.
                    self._counters.refused_events += 1
                    logger.error(
                        "position monitor: closing #%d refused, not stored: %s", order.ticket, exc
                    )
                finally:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.set()
                        self._idle = anyio.Event()

    @staticmethod
    async def _close(api: object, order: CloseOrder) -> None:
        await api.close_position(  # type: ignore[attr-defined]
            ticket=order.ticket,
            symbol=order.symbol,
            close_price=order.price,
            realized_pnl=order.realized_pnl,
            event_id=order.event_id,
        )
