"""Shutdown under load: cancelled or signalled, a node commits what it took and leaves."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.lowlevel import checkpoint

from eventbus import BusFull
from schemas import Tick
from tradebus import Node, open_node

from ._helpers import DATABASE_FILES, assert_lock_free, count, integrity, read_only, wait_until

_MAIN = "unified_tick_pipeline.db"


async def produce_ticks(node: Node, published: list[int]) -> None:
    for n in itertools.count():
        tick = Tick(symbol="BTCUSDT", bid=50_000.0 + n % 100, ask=50_001.0)
        try:
            node.bus.publish_nowait(tick)
        except BusFull:
            await node.bus.publish(tick)
        published[0] += 1
        if n % 100 == 0:
            await checkpoint()


async def log_lifecycle(node: Node, first_ticket: int, acknowledged: list[str]) -> None:
    bot = node.integration("chatgpt_bot")
    api = node.integration("api_server")
    for ticket in itertools.count(first_ticket):
        acknowledged.append(
            await bot.log_trade_execution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0, volume=0.01
            )
        )
        acknowledged.append(
            await api.log_trade_monitoring(
                ticket=ticket, symbol="BTCUSDT", monitoring_type="opened", status="ok"
            )
        )


def stored_event_ids(data: Path) -> set[str]:
    ids: set[str] = set()
    for filename, table in ((_MAIN, "trade_executions"), ("system_logs.db", "trade_monitoring")):
        with read_only(data / filename) as conn:
            ids.update(row[0] for row in conn.execute(f"SELECT event_id FROM {table}"))
    return ids


async def wait_for_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """The threads started since ``before`` that are still alive after a grace period.

    AnyIO's worker threads do not count: they are the event loop's pool (opening a
    reader checks its file in one), kept idle for reuse and stopped with the loop.
    """
    deadline = time.monotonic() + 5
    while True:
        left = {
            thread
            for thread in set(threading.enumerate()) - before
            if thread.name != "AnyIO worker thread"
        }
        if not left or time.monotonic() > deadline:
            return left
        await anyio.sleep(0.05)


async def test_cancelled_node_commits_what_it_took_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    threads = set(threading.enumerate())
    tasks = asyncio.all_tasks()
    published = [0]
    acknowledged: list[str] = []
    with anyio.CancelScope() as scope:
        async with open_node(tmp_path, max_buffer=5_000) as node, anyio.create_task_group() as tg:
            tg.start_soon(produce_ticks, node, published)
            for task in range(3):
                tg.start_soon(log_lifecycle, node, task * 1_000_000 + 1, acknowledged)
            await wait_until(lambda: len(acknowledged) >= 30 and published[0] >= 20_000)
            cancelled_at = time.monotonic()
            scope.cancel()  # the caller's cancel scope around the node
    shutdown = time.monotonic() - cancelled_at
    assert shutdown < 10, f"the node took {shutdown:.1f}s to shut down"
    assert scope.cancelled_caught
    # Every tick the bus took was drained and committed; every acknowledged event is stored.
    assert count(tmp_path / _MAIN, "unified_ticks") == published[0]
    assert set(acknowledged) <= stored_event_ids(tmp_path)
    for filename in DATABASE_FILES:
        assert integrity(tmp_path / filename) == "ok"
        assert_lock_free(tmp_path / filename)
    # No writer, reader or aiosqlite thread, and no task, outlives the node.
    assert await wait_for_threads(threads) == set()
    assert asyncio.all_tasks() == tasks


async def test_a_node_cancelled_while_it_starts_stops_at_once(tmp_path: Path) -> None:
    # Cancelled at every point of its start (writers, services, relays): it stops.
    threads = set(threading.enumerate())
    for step in range(30):
        cancelled_at = time.monotonic()
        with anyio.move_on_after(step * 0.005) as scope:
            async with open_node(tmp_path / str(step)):
                await anyio.sleep(5)
        assert scope.cancelled_caught
        shutdown = time.monotonic() - cancelled_at - step * 0.005
        assert shutdown < 5, f"cancelled {step * 5} ms in, it took {shutdown:.1f}s to stop"
    assert await wait_for_threads(threads) == set()


async def test_a_service_still_starting_is_cancelled_with_the_node(tmp_path: Path) -> None:
    @asynccontextmanager
    async def slow_to_start(node: Node) -> AsyncIterator[None]:
        await anyio.sleep(30)
        yield

    cancelled_at = time.monotonic()
    with anyio.move_on_after(0.5) as scope:
        async with Node(tmp_path, services=[slow_to_start]):
            pytest.fail("the node started although its service had not")
    assert scope.cancelled_caught
    assert time.monotonic() - cancelled_at < 5


async def test_node_body_error_under_load_commits_and_reraises(tmp_path: Path) -> None:
    threads = set(threading.enumerate())
    published = [0]

    async def fail_under_load() -> None:
        async with open_node(tmp_path, max_buffer=5_000) as node, anyio.create_task_group() as tg:
            tg.start_soon(produce_ticks, node, published)
            await wait_until(lambda: published[0] >= 20_000)
            raise LookupError("the bot crashed")

    with pytest.raises(ExceptionGroup) as raised:
        await fail_under_load()
    assert raised.group_contains(LookupError, match="the bot crashed")
    assert count(tmp_path / _MAIN, "unified_ticks") == published[0]
    assert await wait_for_threads(threads) == set()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_demo_stops_cleanly_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    data = tmp_path / "data"
    demo = await anyio.open_process(
        [sys.executable, "-m", "tradebus", "demo", "--data-dir", str(data), "--seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    async with demo:

        def ingesting() -> bool:
            assert demo.returncode is None, "the demo exited early"
            try:
                return count(data / _MAIN, "unified_ticks") > 1_000
            except Exception:  # not created yet, or its schema not yet there
                return False

        await wait_until(ingesting)
        demo.send_signal(signum)
        stdout = stderr = b""
        with anyio.fail_after(20):  # a clean shutdown is bounded
            assert demo.stdout is not None
            assert demo.stderr is not None
            async for chunk in demo.stdout:
                stdout += chunk
            async for chunk in demo.stderr:
                stderr += chunk
            returncode = await demo.wait()
    output = stdout.decode()
    # The conventional status of a command stopped by a signal: 128 + its number.
    assert returncode == 128 + signum, stderr.decode()[-3000:]
    assert "Traceback" not in stderr.decode()
    for filename in DATABASE_FILES:
        assert integrity(data / filename) == "ok"
        assert_lock_free(data / filename)
    # The summary's tick count is what was published; all of it was committed.
    summary = re.search(r"([\d,]+) ticks in", output)
    assert summary is not None, output[-2000:]
    assert count(data / _MAIN, "unified_ticks") == int(summary.group(1).replace(",", ""))
