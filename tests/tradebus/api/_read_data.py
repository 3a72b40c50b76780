"""The data the read endpoints' tests serve: written through the integration API and
the bus, by a node that is closed before the server starts."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from schemas import PositionUpdate, Tick
from tradebus import Node, open_node

__all__ = ["EURUSD_TICKS", "T0", "S", "bid", "tick", "write_data"]

S: Final = 1_000_000_000
#: 2026-01-01T00:00:00Z, a minute boundary.
T0: Final = 1_767_225_600 * S
#: How many EURUSD ticks are stored: one a second from T0.
EURUSD_TICKS: Final = 250


def bid(i: int) -> float:
    return round(1.1 + i * 0.00001, 5)


def tick(i: int, symbol: str = "EURUSD") -> Tick:
    return Tick(symbol=symbol, bid=bid(i), ask=round(bid(i) + 0.0002, 5), ts=T0 + i * S)


async def write_data(data_dir: Path) -> None:
    """Ticks of two symbols; three trades (one open, two closed) and their
    recommendations; monitoring events, alerts and health reports."""
    async with open_node(data_dir, monitor=None) as node:
        for i in range(EURUSD_TICKS):
            await node.bus.publish(tick(i), wait=True)
        for i in range(3):
            await node.bus.publish(tick(i, "GBPUSD"), wait=True)
        await _trades(node)
        await _logs(node)


async def _trades(node: Node) -> None:
    bot = node.integration("chatgpt_bot")
    agent = node.integration("desktop_agent")
    won = await agent.log_trade_recommendation(
        symbol="GBPUSD", direction="BUY", entry_price=1.25, stop_loss=1.24, take_profit=1.27,
        confidence=70, reasoning="breakout",
    )  # fmt: skip
    held = await agent.log_trade_recommendation(
        symbol="EURUSD", direction="BUY", entry_price=1.1, stop_loss=1.09, take_profit=1.12,
        confidence=60,
    )  # fmt: skip
    await agent.log_trade_recommendation(
        symbol="EURUSD", direction="SELL", entry_price=1.2, stop_loss=1.21, take_profit=1.18,
        confidence=40,
    )  # fmt: skip
    unsettled = await agent.log_trade_recommendation(
        symbol="EURUSD", direction="BUY", entry_price=1.1, stop_loss=1.09, take_profit=1.11,
        confidence=55,
    )  # fmt: skip
    await bot.log_trade_execution(
        ticket=101, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=2.0,
        stop_loss=1.09, recommendation_id=held, ts=T0 + 10 * S,
    )  # fmt: skip
    await bot.log_trade_execution(
        ticket=102, symbol="EURUSD", direction="SELL", entry_price=1.1, volume=1.0,
        ts=T0 + 20 * S,
    )  # fmt: skip
    await bot.close_position(ticket=102, symbol="EURUSD", close_price=1.105, realized_pnl=-5.0)
    await bot.log_trade_execution(
        ticket=103, symbol="GBPUSD", direction="BUY", entry_price=1.25, volume=1.0,
        recommendation_id=won, ts=T0 + 30 * S,
    )  # fmt: skip
    await bot.close_position(ticket=103, symbol="GBPUSD", close_price=1.26, realized_pnl=10.0)
    await bot.log_trade_execution(
        ticket=104, symbol="GBPUSD", direction="SELL", entry_price=1.2, volume=3.0,
        ts=T0 + 40 * S,
    )  # fmt: skip
    # A trade whose close reaches its position only (not its recommendation).
    await bot.log_trade_execution(
        ticket=105, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=1.0,
        recommendation_id=unsettled, ts=T0 + 50 * S,
    )  # fmt: skip
    await agent.update_recommendation(recommendation_id=unsettled, status="executed", ticket=105)
    await node.bus.publish(
        PositionUpdate(
            ticket=105, symbol="EURUSD", status="closed", current_price=1.1025,
            close_price=1.1025, realized_pnl=2.5, ts=T0 + 60 * S,
        ),
        wait=True,
    )  # fmt: skip
    await node.bus.flush()


async def _logs(node: Node) -> None:
    bot = node.integration("chatgpt_bot")
    for i in range(5):
        await bot.log_trade_monitoring(
            ticket=101, symbol="EURUSD", monitoring_type="trailing", status=f"step {i}"
        )
    await bot.log_trade_alert(alert_type="risk", severity="warning", message="drawdown 2%")
    await bot.log_trade_alert(
        alert_type="profit", severity="info", message="half way", symbol="GBPUSD", ticket=103
    )
    await bot.log_trade_alert(alert_type="system", severity="critical", message="feed lost")
    await bot.log_system_health(component="test.feed", status="ok", details={"lag_ms": 3})
    await bot.log_system_health(component="test.feed", status="degraded", details={"lag_ms": 900})
    await bot.log_system_health(component="test.bot", status="ok")
    await node.bus.flush()
