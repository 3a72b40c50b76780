"""The role processes of the cross-process scenarios (run by ``python -m bench._worker``).

Each opens a node on the shared data directory, prints ``ready`` once it runs,
waits for a line on stdin (go), does its part, and prints its result as one JSON
line. The processes that serve (an owner, an idle role) run until a second line
(stop) arrives.

Roles: ``cross-sender`` publishes the bench's ticks for the main database from a
node that does not host it (they go through its outbox) and times them until
``delivered()`` returns; ``cross-owner`` hosts the main database (its relay stores
what the others send) and may publish ticks of its own at a steady rate;
``cross-agent`` logs trade executions one at a time and times each until the owner
committed it; ``idle`` opens a node and does nothing.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from tradebus import Node, open_node

from ._ingest import publish_all
from ._ticks import make_ticks

__all__ = ["ROLES", "run_cross", "thread_cpu"]

#: The worker roles this module runs.
ROLES = ("cross-sender", "cross-owner", "cross-agent", "idle")
#: How often the owner's paced tick feed publishes (seconds).
_TICK_EVERY = 0.005
_WARM_UP = 10


def _emit(payload: object) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _next_line() -> None:
    await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each thread of this process, by thread name
    (threads of one name summed); empty where ``/proc`` says nothing."""
    try:
        ticks_per_s = float(os.sysconf("SC_CLK_TCK"))
        tasks = list(Path("/proc/self/task").iterdir())
    except (OSError, ValueError, AttributeError):
        return {}
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    cpu: dict[str, float] = {}
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = names.get(int(task.name)) or stat[stat.index("(") + 1 : stat.rindex(")")]
        name = name.split(" (")[0].rstrip("_0123456789- ")  # "Thread-3 (run)" -> "Thread"
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks_per_s  # utime, stime
        cpu[name] = cpu.get(name, 0.0) + seconds
    return cpu


def _wakeups() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int(usage.ru_nvcsw + usage.ru_nivcsw)


def _node(params: dict[str, Any], roles: list[str]) -> Node:
    return open_node(
        params["data_dir"],
        roles=roles,
        max_batch=int(params.get("max_batch", 5_000)),
        max_delay=float(params.get("max_delay", 0.05)),
        candles=(),  # delivery alone, as the in-process ingest it is compared with
        monitor=None,
    )


async def _sender(params: dict[str, Any]) -> dict[str, Any]:
    ticks = make_ticks(int(params["ticks"]), int(params["symbols"]), int(params["seed"]))
    async with _node(params, [str(params["sender_role"])]) as node:
        _emit("ready")
        await _next_line()
        started, cpu_started = time.monotonic(), time.process_time()
        threads_before = thread_cpu()
        await publish_all(node.bus, ticks, yield_every=params.get("yield_every"))
        await node.bus.flush()  # in this node's outbox
        outboxed = time.monotonic()
        await node.delivered(timeout=float(params.get("timeout", 600)))
        done, cpu = time.monotonic(), time.process_time() - cpu_started
        threads = thread_cpu()
        stats = node.statistics().writers
        writers = {name: w.events for name, w in stats.items()}
        own = {
            name: {"batches": w.batches, "mean_batch": w.mean_batch,
                   "mean_commit_ms": w.mean_commit_ms, "max_commit_ms": w.max_commit_ms}
            for name, w in stats.items()
        }  # fmt: skip
    return {
        "ticks": len(ticks),
        "started": started,
        "outboxed": outboxed,
        "delivered": done,
        "seconds": done - started,
        "outbox_seconds": outboxed - started,
        "cpu_seconds": cpu,
        "thread_cpu_seconds": {k: v - threads_before.get(k, 0.0) for k, v in threads.items()},
        "writer_events": writers,
        "writers": own,
    }


async def _feed(node: Node, params: dict[str, Any], counts: dict[str, float]) -> None:
    """Publish ticks at ``tick_rate`` per second, in small steps, until cancelled."""
    rate = float(params["tick_rate"])
    ticks = make_ticks(int(params["ticks"]), int(params["symbols"]), int(params["seed"]))
    publish, n, published = node.bus.publish, len(ticks), 0
    started = counts["feed_started"] = time.monotonic()
    while True:
        due = int((time.monotonic() - started) * rate)
        while published < due:
            await publish(ticks[published % n])
            published += 1
            counts["published"] = published
        await anyio.sleep(_TICK_EVERY)


async def _owner(params: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, float] = {"published": 0}
    async with _node(params, ["chatgpt_bot"]) as node:
        _emit("ready")
        await _next_line()
        started, cpu_started = time.monotonic(), time.process_time()
        threads_before = thread_cpu()
        async with anyio.create_task_group() as tasks:
            if params.get("tick_rate"):
                tasks.start_soon(_feed, node, params, counts)
            await _next_line()
            tasks.cancel_scope.cancel()
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        threads = thread_cpu()
        await node.bus.flush()
        stats = node.statistics()
        main = stats.writers["main"]
        relays = {
            key: {"delivered": relay.delivered, "cursor": relay.cursor, "pending": relay.pending}
            for key, relay in stats.relays.items()
        }
    feed_seconds = time.monotonic() - counts.get("feed_started", time.monotonic())
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "thread_cpu_seconds": {k: v - threads_before.get(k, 0.0) for k, v in threads.items()},
        "ticks_published": int(counts["published"]),
        "tick_rate_achieved": counts["published"] / feed_seconds if feed_seconds > 0 else 0.0,
        "relays": relays,
        "writer": {
            "events": main.events,
            "batches": main.batches,
            "mean_batch": main.mean_batch,
            "mean_commit_ms": main.mean_commit_ms,
            "max_commit_ms": main.max_commit_ms,
        },
    }


async def _agent(params: dict[str, Any]) -> dict[str, Any]:
    calls, pause = int(params["calls"]), float(params["pause"])
    returned_ms: list[float] = []
    committed_ms: list[float] = []
    async with _node(params, ["desktop_agent"]) as node:
        log = node.integration("desktop_agent").log_trade_execution
        ticket = int(params.get("first_ticket", 1_000))
        _emit("ready")
        await _next_line()
        await anyio.sleep(float(params.get("settle", 0.0)))  # the owner's feed runs
        for i in range(_WARM_UP + calls):
            await anyio.sleep(pause)
            ticket += 1
            began = time.monotonic()
            await log(ticket=ticket, symbol="EURUSD", direction="BUY", entry_price=1.085,
                      volume=0.1)  # fmt: skip
            returned = time.monotonic()
            await node.delivered(timeout=60)
            done = time.monotonic()
            if i >= _WARM_UP:
                returned_ms.append((returned - began) * 1000)
                committed_ms.append((done - began) * 1000)
    return {
        "calls": calls,
        "last_ticket": ticket,
        "returned_ms": returned_ms,
        "committed_ms": committed_ms,
    }


async def _idle(params: dict[str, Any]) -> dict[str, Any]:
    async with _node(params, [str(params["node_role"])]):
        _emit("ready")
        await _next_line()
        await anyio.sleep(float(params.get("settle", 0.0)))
        threads_before, wakeups_before = thread_cpu(), _wakeups()
        started, cpu_started = time.monotonic(), time.process_time()
        await anyio.sleep(float(params["seconds"]))
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
        threads, wakeups = thread_cpu(), _wakeups() - wakeups_before
    return {
        "role": params["node_role"],
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "cpu_share": cpu / elapsed,
        "context_switches_per_s": wakeups / elapsed,
        "thread_cpu_seconds": {
            name: seconds - threads_before.get(name, 0.0) for name, seconds in threads.items()
        },
    }


_RUNNERS = {"cross-sender": _sender, "cross-owner": _owner, "cross-agent": _agent, "idle": _idle}


def run_cross(params: dict[str, Any]) -> dict[str, Any]:
    """Run the role process ``params["role"]`` describes; its result."""
    return anyio.run(_RUNNERS[str(params["role"])], params, backend="asyncio")
