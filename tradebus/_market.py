"""The simulated market and trading rules the demos share (one process or several)."""

from __future__ import annotations

import dataclasses
import itertools
import random
import time
from typing import Literal

import anyio

from eventbus import BusFull
from schemas import Direction, HealthStatus, Tick

from ._node import Node

__all__ = [
    "DEMO_SYMBOLS",
    "MAX_HOLD",
    "STEP",
    "Market",
    "Proposal",
    "Verdict",
    "close_details",
    "close_reason",
    "halfway",
    "log_writer_health",
    "pnl",
    "propose",
    "volume_for",
]

#: The symbols the demos trade unless told otherwise.
DEMO_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "EURUSD")

_DIRECTIONS: tuple[Direction, ...] = ("BUY", "SELL")
_START_PRICES = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0, "EURUSD": 1.08, "XAUUSD": 2_000.0}
#: The relative standard deviation of one tick's move.
STEP = 0.00005
_STOP = 0.002  # stop loss 0.2% from entry
_TARGET = 0.003  # take profit 0.3% from entry
#: Seconds before a position is closed at market.
MAX_HOLD = 8.0

#: Why a position was closed.
Verdict = Literal["stop_loss_hit", "take_profit_hit", "time_exit"]


class Market:
    """A random walk per symbol, published as ticks at a steady rate."""

    def __init__(
        self,
        symbols: tuple[str, ...],
        rng: random.Random,
        prices: dict[str, float] | None = None,
        step: float = STEP,
    ) -> None:
        self.rng = rng
        self.step = step
        known = prices or {}
        self.prices = {s: known.get(s) or _START_PRICES.get(s, 100.0) for s in symbols}
        #: Ticks the bus took so far.
        self.ticks = 0

    def next_tick(self, symbol: str) -> Tick:
        price = self.prices[symbol] * (1.0 + self.rng.gauss(0.0, self.step))
        self.prices[symbol] = price
        half_spread = price * 0.00005
        return Tick(
            symbol=symbol,
            bid=round(price - half_spread, 8),
            ask=round(price + half_spread, 8),
            volume=round(self.rng.uniform(0.01, 2.0), 4),
            source="demo",
        )

    async def run(self, node: Node, rate: float) -> None:
        """Publish ``rate`` ticks per second, round robin over the symbols, forever."""
        symbols = itertools.cycle(tuple(self.prices))
        interval = max(0.01, min(0.25, 1.0 / rate))
        started = time.monotonic()
        while True:
            due = int((time.monotonic() - started) * rate) - self.ticks
            for _ in range(max(due, 0)):
                tick = self.next_tick(next(symbols))
                try:
                    node.bus.publish_nowait(tick)
                except BusFull:
                    await node.bus.publish(tick)  # backpressure: the writer is behind
                self.ticks += 1  # counted once the bus took it
            await anyio.sleep(interval)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Proposal:
    """A recommendation's fields: the keyword arguments of ``log_trade_recommendation``."""

    symbol: str
    direction: Direction
    entry_price: float
    stop_loss: float
    take_profit: float
    confidence: float
    reasoning: str
    timeframe: str = "M1"


def propose(rng: random.Random, symbol: str, price: float) -> Proposal:
    """A random recommendation at ``price``: stop 0.2% away, target 0.3%."""
    direction: Direction = rng.choice(_DIRECTIONS)
    sign = 1.0 if direction == "BUY" else -1.0
    return Proposal(
        symbol=symbol,
        direction=direction,
        entry_price=price,
        stop_loss=price * (1.0 - sign * _STOP),
        take_profit=price * (1.0 + sign * _TARGET),
        confidence=round(rng.uniform(55, 95), 1),
        reasoning=f"{'bullish' if sign > 0 else 'bearish'} momentum on the simulated feed",
    )


def volume_for(price: float, contract_size: float = 1.0) -> float:
    """A lot size that keeps the P&L of every symbol in the same range (fewer lots of
    a bigger contract)."""
    return (0.01 if price > 1_000 else 1_000.0) / contract_size


def pnl(
    direction: Direction | None,
    entry: float,
    price: float,
    volume: float,
    contract_size: float = 1.0,
) -> float:
    """Price distance x volume x contract size (money), rounded to 6 decimals."""
    sign = 1.0 if direction == "BUY" else -1.0
    return round((price - entry) * sign * volume * contract_size, 6)


def halfway(entry: float, take_profit: float) -> float:
    """The demos' break-even trigger: the stop moves to the entry once the price is
    halfway to the target."""
    return abs(take_profit - entry) / 2


def close_reason(
    *, direction: Direction | None, stop_loss: float, take_profit: float, price: float
) -> Verdict:
    """Why a position closed at ``price`` was closed (as :func:`judge` decides)."""
    sign = 1.0 if direction == "BUY" else -1.0
    if (price - stop_loss) * sign <= 0:
        return "stop_loss_hit"
    if (price - take_profit) * sign >= 0:
        return "take_profit_hit"
    return "time_exit"


def close_details(verdict: Verdict, stop_loss: float, take_profit: float) -> str:
    """What a close's monitoring says."""
    if verdict == "stop_loss_hit":
        return f"Stop loss hit at {stop_loss:.6g}"
    if verdict == "take_profit_hit":
        return f"Take profit hit at {take_profit:.6g}"
    return "Closed at market after max hold"


async def log_writer_health(node: Node, role: str) -> None:
    """Log one health beat of each writer of ``node``, as ``role``."""
    api = node.integration(role)
    for name, writer in node.statistics().writers.items():
        status: HealthStatus = "ok" if writer.last_error is None else "degraded"
        await api.log_system_health(
            component=f"writer.{name}",
            status=status,
            details={"pending": writer.pending, "batches": writer.batches},
        )
