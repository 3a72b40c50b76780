"""Producers offering far more ticks than the writer commits; prints what it measured.

Usage::

    python overload_worker.py DATA_DIR MAX_BUFFER SECONDS

It opens a node hosting the main writer with ``max_buffer=MAX_BUFFER``, plus two
in-process subscribers to every tick: a ``block`` one that keeps up, and a
``drop_oldest`` one (a UI feed) that reads slowly. Several producers then publish
ticks as fast as they can for SECONDS (``publish_nowait``, and ``await publish`` when
the bus is full). It prints one JSON object: peak RSS before and after the overload,
how fast the producers can publish and how fast the writer committed, what was
published, received, dropped, and how long the producers waited.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

import schemas
from eventbus import BusFull, EventBus, Subscription
from schemas import Tick
from tradebus import Node, open_node

_PRODUCERS = 4
_WARM_UP = 2_000
_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")


def peak_rss_kb() -> int:
    """The peak resident set size of this process, in KiB.

    On Linux ``getrusage``'s ``ru_maxrss`` survives ``exec``: a process forked from a
    large pytest starts with pytest's peak. ``VmHWM`` belongs to this program's own
    address space, so it is read first.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def tick(n: int) -> Tick:
    return Tick(symbol=_SYMBOLS[n % 4], bid=100.0 + n % 7, ask=100.5 + n % 7)


async def publish_rate(ticks: int) -> float:
    """Ticks per second one producer publishes when nothing holds it back."""
    async with EventBus(admit=schemas.admit) as bus:
        bus.subscribe("market.>", max_buffer=1_000, overflow="drop_oldest")
        started = time.perf_counter()
        for n in range(ticks):
            bus.publish_nowait(tick(n))
        return ticks / (time.perf_counter() - started)


async def main(data_dir: Path, max_buffer: int, seconds: float) -> dict[str, Any]:
    capacity = await publish_rate(20_000)
    async with open_node(
        data_dir,
        roles=["chatgpt_bot"],
        max_buffer=max_buffer,
        max_batch=5,  # a slow writer: a commit per five ticks
        max_delay=0.01,
        candles=(),
    ) as node:
        bus = node.bus
        follower = bus.subscribe("market.>", max_buffer=max_buffer, name="follower")
        feed = bus.subscribe("market.>", max_buffer=100, overflow="drop_oldest", name="ui")
        counted = {"follower": 0, "ui": 0}
        # The follower has taken every tick once it counted ``expected`` (set when the
        # producers are done): the buffer it still held at the flush included.
        expected = {"follower": -1}
        caught_up = anyio.Event()

        async def follow(subscription: Subscription, name: str, pause: float) -> None:
            async for _message in subscription:
                counted[name] += 1
                if counted[name] == expected.get(name):
                    caught_up.set()
                if pause:
                    await anyio.sleep(pause)

        published = [0] * _PRODUCERS
        refused = [0] * _PRODUCERS
        waited = [0.0] * _PRODUCERS

        async def produce(p: int, until: float) -> None:
            n = p
            while time.monotonic() < until:
                event = tick(n)
                n += _PRODUCERS
                try:
                    bus.publish_nowait(event)
                except BusFull:
                    refused[p] += 1
                    started = time.monotonic()
                    await bus.publish(event)  # backpressure: wait for room
                    waited[p] += time.monotonic() - started
                published[p] += 1
                if published[p] % 100 == 0:
                    await checkpoint()  # let the other producers in

        async with anyio.create_task_group() as followers:
            followers.start_soon(follow, follower, "follower", 0.0)
            followers.start_soon(follow, feed, "ui", 0.001)
            await warm_up(node)
            gc.collect()
            rss_before = peak_rss_kb()
            rows_before = node.writer("main").statistics().rows["unified_ticks"]
            started = time.monotonic()
            async with anyio.create_task_group() as producers:
                for p in range(_PRODUCERS):
                    producers.start_soon(produce, p, started + seconds)
            produced = time.monotonic() - started
            writer = node.writer("main")
            committed = writer.statistics().rows["unified_ticks"] - rows_before
            writer_high_water = max(
                s.high_water for s in bus.statistics().subscriptions if s.name == "writer:main"
            )
            block_high_water = max(
                s.high_water for s in bus.statistics().subscriptions if s.overflow == "block"
            )
            await bus.flush()
            expected["follower"] = sum(published) + _WARM_UP
            if counted["follower"] >= expected["follower"]:
                caught_up.set()
            with anyio.move_on_after(60):  # if it never catches up, the counts say so
                await caught_up.wait()
            rss_after = peak_rss_kb()
            feed_statistics = feed.statistics()
            follower_statistics = follower.statistics()
            stored = writer.statistics().rows["unified_ticks"] - rows_before
            followers.cancel_scope.cancel()
    return {
        "max_buffer": max_buffer,
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "capacity_per_s": capacity,
        "committed_per_s": committed / produced,
        "published": sum(published),
        "refused": sum(refused),
        "waited_s": sum(waited) / _PRODUCERS,
        "seconds": produced,
        "stored": stored,
        "writer_high_water": writer_high_water,
        "block_high_water": block_high_water,
        "follower_received": counted["follower"],
        "follower_dropped": follower_statistics.dropped,
        "ui_counted": counted["ui"],
        "ui_received": feed_statistics.received,
        "ui_dropped": feed_statistics.dropped,
        "ui_buffered": feed_statistics.buffered,
        "ui_delivered": feed_statistics.delivered,
    }


async def warm_up(node: Node) -> None:
    """Ticks through every path once, so that one-off allocations are not counted."""
    for n in range(_WARM_UP):
        await node.bus.publish(tick(n))
    await node.bus.flush()


if __name__ == "__main__":
    result = anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps(result))
