"""A node ingesting at full speed that logs every acknowledged event, for the crash loop.

Usage::

    python crash_worker.py DATA_DIR ACK_LOG RUN [SECONDS]

It opens a node on DATA_DIR (all three roles), then publishes ticks of symbol
``R<RUN>`` with consecutive timestamps ``TS0 + 1, TS0 + 2, ...`` and, from several
tasks, trade-lifecycle events through the integration API. It appends one line per
acknowledgement to ACK_LOG and fsyncs it:

``S <run>``
    the node is open (lock taken, schema migrated)
``T <symbol> <n>``
    ticks 1..n of ``symbol`` are committed (a ``publish(..., wait=True)`` returned)
``E <table> <column> <value>``
    a ``log_*`` call returned: the row whose ``column`` is ``value`` is committed

The parent SIGKILLs it at random moments; SECONDS (default 60) ends it otherwise.
"""

from __future__ import annotations

import asyncio
import faulthandler
import itertools
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from anyio.lowlevel import checkpoint

from eventbus import BusFull
from schemas import Tick
from tradebus import Node, open_node

#: Timestamps of the worker's ticks start above this (ns, 2023-11-14).
TS0 = 1_700_000_000_000_000_000
#: Ticks between two acknowledged (waited for) ticks.
ACK_EVERY = 1_000
_LIFECYCLE_TASKS = 3

Ack = Callable[[str], None]


def open_ack_log(path: Path) -> Ack:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def ack(line: str) -> None:
        os.write(fd, f"{line}\n".encode())
        os.fsync(fd)

    return ack


async def publish_ticks(node: Node, symbol: str, ack: Ack) -> None:
    bus = node.bus
    for n in itertools.count(1):
        tick = Tick(symbol=symbol, bid=100.0, ask=100.5, ts=TS0 + n)
        if n % ACK_EVERY == 0:
            await bus.publish(tick, wait=True)  # every tick up to n is committed
            ack(f"T {symbol} {n}")
            continue
        try:
            bus.publish_nowait(tick)
        except BusFull:
            await bus.publish(tick)
        if n % 200 == 0:
            await checkpoint()  # let the writers and the other producers run


async def log_lifecycle(node: Node, run: int, task: int, ack: Ack) -> None:
    rng = random.Random(run * 100 + task)
    bot = node.integration("chatgpt_bot")
    agent = node.integration("desktop_agent")
    api = node.integration("api_server")
    tickets = itertools.count(run * 10_000_000 + task * 1_000_000 + 1)
    opened: list[int] = []
    steps: list[Callable[[], Awaitable[None]]] = []

    async def execution() -> None:
        rec_id = None
        if rng.random() < 0.5:
            rec_id = await agent.log_trade_recommendation(
                symbol="BTCUSDT",
                direction="BUY",
                entry_price=50_000.0,
                stop_loss=49_500.0,
                take_profit=51_000.0,
                confidence=rng.uniform(0, 100),
                reasoning=f"run {run} task {task}",
            )
            ack(f"E trade_recommendations recommendation_id {rec_id}")
        ticket = next(tickets)
        event_id = await bot.log_trade_execution(
            ticket=ticket,
            symbol="BTCUSDT",
            direction="BUY",
            entry_price=50_000.0,
            stop_loss=49_500.0,
            take_profit=51_000.0,
            volume=0.01,
            recommendation_id=rec_id,
        )
        ack(f"E trade_executions event_id {event_id}")
        opened.append(ticket)

    async def position() -> None:
        if not opened:
            return await execution()
        ticket = rng.choice(opened)
        if rng.random() < 0.3:
            opened.remove(ticket)
            event_id = await bot.close_position(
                ticket=ticket, symbol="BTCUSDT", close_price=50_100.0, realized_pnl=1.0
            )
        else:
            event_id = await bot.update_position(
                ticket=ticket, symbol="BTCUSDT", current_price=50_050.0, unrealized_pnl=0.5
            )
        ack(f"E position_updates event_id {event_id}")

    async def monitoring() -> None:
        event_id = await api.log_trade_monitoring(
            ticket=next(tickets),
            symbol="BTCUSDT",
            monitoring_type="stop_loss_hit",
            status="alert_triggered",
            details="Stop loss hit at 49500.0",
        )
        ack(f"E trade_monitoring event_id {event_id}")

    async def alert() -> None:
        event_id = await api.log_trade_alert(
            alert_type="risk", severity="warning", message="drawdown", symbol="BTCUSDT"
        )
        ack(f"E trade_alerts event_id {event_id}")

    async def analysis() -> None:
        event_id = await agent.log_trade_analysis(
            symbol="BTCUSDT",
            timeframe="M5",
            regime="trend",
            confluence_score=0.7,
            indicators={"rsi": 55.0},
        )
        ack(f"E trade_analysis event_id {event_id}")

    async def health() -> None:
        event_id = await api.log_system_health(component="crash_worker", status="ok")
        ack(f"E system_health event_id {event_id}")

    steps = [execution, position, position, monitoring, alert, analysis, health]
    while True:
        await rng.choice(steps)()


def dump_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


async def main(data_dir: Path, ack_log: Path, run: int, seconds: float) -> None:
    ack = open_ack_log(ack_log)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks)
    with anyio.move_on_after(seconds):
        async with (
            open_node(data_dir, max_buffer=20_000, max_batch=2_000, max_delay=0.01) as node,
            anyio.create_task_group() as tg,
        ):
            ack(f"S {run}")
            tg.start_soon(publish_ticks, node, f"R{run}", ack)
            for task in range(_LIFECYCLE_TASKS):
                tg.start_soon(log_lifecycle, node, run, task, ack)


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1)  # the test dumps the stacks of a hung worker
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    anyio.run(main, Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), seconds)
