"""The bus on its own, in CPU time: publish_nowait + receive_batch against a memory stream."""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
from anyio.lowlevel import checkpoint

import schemas
from eventbus import EventBus
from schemas import Tick

from ._context import Context
from ._pairs import Pair, pairs_note, summarize_pairs
from ._results import Line, ScenarioResult
from ._sched import Disturbance, RunQueueProbe

__all__ = ["bus", "bus_cpu", "stream_cpu"]

#: Messages per ``receive_batch`` when draining.
DRAIN = 1_000


async def bus_cpu(ticks: Sequence[Tick], *, admit: bool = False) -> tuple[float, Disturbance]:
    """CPU seconds (this thread) to ``publish_nowait`` every tick (routed by its topic;
    with ``admit``, validated first, as a node's bus does) into one subscription, then
    drain it with ``receive_batch`` and ``ack``."""
    async with EventBus(admit=schemas.admit if admit else None) as event_bus:
        subscription = event_bus.subscribe("market.tick.>", max_buffer=len(ticks))
        publish = event_bus.publish_nowait
        receive_batch = subscription.receive_batch
        ack = subscription.ack
        await checkpoint()
        probe = RunQueueProbe()
        wall, started = time.perf_counter(), time.thread_time()
        for tick in ticks:
            publish(tick)
        drained = 0
        while drained < len(ticks):
            batch = await receive_batch(DRAIN, 0.0)
            ack(len(batch))
            drained += len(batch)
        cpu = time.thread_time() - started
        disturbance = probe.stop(time.perf_counter() - wall)
        if subscription.statistics().acknowledged != len(ticks):
            raise RuntimeError("the bus lost messages")
        subscription.close()
    return cpu, disturbance


async def stream_cpu(ticks: Sequence[Tick]) -> tuple[float, Disturbance]:
    """CPU seconds (this thread): the same objects through an anyio memory object stream
    (``send_nowait`` all, then ``receive_nowait`` all; no validation or routing)."""
    send, receive = anyio.create_memory_object_stream[Tick](len(ticks))
    with send, receive:
        send_nowait = send.send_nowait
        receive_nowait = receive.receive_nowait
        await checkpoint()
        probe = RunQueueProbe()
        wall, started = time.perf_counter(), time.thread_time()
        for tick in ticks:
            send_nowait(tick)
        for _ in range(len(ticks)):
            receive_nowait()
        cpu = time.thread_time() - started
        disturbance = probe.stop(time.perf_counter() - wall)
    return cpu, disturbance


async def bus(ctx: Context) -> ScenarioResult:
    """Interleaved pairs (the memory stream, then the bus); the ratio is stream CPU / bus
    CPU: the bus's speed as a share of the stream's."""
    config = ctx.config
    pairs: list[Pair] = []
    bus_runs: list[float] = []
    admitted_runs: list[float] = []
    admitted_pairs: list[Pair] = []
    stream_runs: list[float] = []
    # A warm-up of each, not counted: the first runs of a process pay for what later
    # ones find ready (the allocator's arenas, and the topics of the symbols
    # schemas.admit has seen, which a plain bus's ticks find cached too). Without it the
    # first pair of a run of this scenario alone is not like the others, nor like the
    # pairs of a full run, which come after the ingest scenarios.
    ctx.status("warming up")
    await stream_cpu(ctx.ticks)
    await bus_cpu(ctx.ticks, admit=True)
    await bus_cpu(ctx.ticks)
    for i in range(config.bus_pairs):
        ctx.status(f"pair {i + 1}/{config.bus_pairs}")
        if i % 2:  # the bus first in every other pair
            bus_seconds, bus_disturbance = await bus_cpu(ctx.ticks)
            stream_seconds, stream_disturbance = await stream_cpu(ctx.ticks)
        else:
            stream_seconds, stream_disturbance = await stream_cpu(ctx.ticks)
            bus_seconds, bus_disturbance = await bus_cpu(ctx.ticks)
        admitted_seconds, admitted_disturbance = await bus_cpu(ctx.ticks, admit=True)
        stream_runs.append(stream_seconds)
        bus_runs.append(bus_seconds)
        admitted_runs.append(admitted_seconds)
        admitted_pairs.append(
            Pair(
                ratio=stream_seconds / admitted_seconds,
                reference=stream_disturbance,
                measured=admitted_disturbance,
            )
        )
        pairs.append(
            Pair(
                ratio=stream_seconds / bus_seconds,
                reference=stream_disturbance,
                measured=bus_disturbance,
            )
        )
    summary = summarize_pairs(pairs)
    admitted = summarize_pairs(admitted_pairs)
    count = len(ctx.ticks)
    bus_rate, stream_rate = count / min(bus_runs), count / min(stream_runs)
    figures = {
        "messages": count,
        "clock": "thread CPU time",
        "bus_msgs_per_cpu_s": bus_rate,
        "stream_msgs_per_cpu_s": stream_rate,
        "bus_cpu_us_per_msg": min(bus_runs) / count * 1e6,
        "stream_cpu_us_per_msg": min(stream_runs) / count * 1e6,
        "ratio_to_stream": summary["ratio"],
        "ratio_to_stream_undisturbed": summary["ratio_undisturbed"],
        # The same with schemas.admit validating every tick first (a node's bus).
        "admitted_cpu_us_per_msg": min(admitted_runs) / count * 1e6,
        "admitted_ratio_to_stream": admitted["ratio"],
        "admitted_ratio_to_stream_undisturbed": admitted["ratio_undisturbed"],
        "bus_cpu_s": bus_runs,
        "stream_cpu_s": stream_runs,
        "pairs": summary["pairs"],
    }
    lines = [
        Line(
            scenario="bus",
            label="publish_nowait, then receive_batch + ack, 1 subscription",
            rate=bus_rate,
            unit="msgs/CPU s",
            comparable=False,
            note=f"paired with the memory stream {pairs_note(summary)}",
        ),
        Line(
            scenario="bus",
            label="anyio memory stream send_nowait, then receive_nowait",
            rate=stream_rate,
            unit="msgs/CPU s",
            comparable=False,
            note="no validation or routing",
        ),
        Line(
            scenario="bus",
            label="the same, each tick validated by schemas.admit (a node's bus)",
            rate=count / min(admitted_runs),
            unit="msgs/CPU s",
            comparable=False,
            note=f"paired with the memory stream {pairs_note(admitted)}",
        ),
    ]
    return ScenarioResult(name="bus", figures=figures, lines=lines)
