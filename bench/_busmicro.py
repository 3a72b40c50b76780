"""The bus on its own: publish_nowait + receive_batch against an anyio memory stream."""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
from anyio.lowlevel import checkpoint

import schemas
from eventbus import EventBus
from schemas import Tick

from ._context import Context
from ._results import Line, ScenarioResult

__all__ = ["bus", "bus_rate", "stream_rate"]

#: Messages published (sent) before each drain.
CHUNK = 1_000


async def bus_rate(ticks: Sequence[Tick]) -> float:
    """Messages/s: ``publish_nowait`` (validate, encode, route) into one subscription,
    drained with ``receive_batch`` and acknowledged."""
    async with EventBus(admit=schemas.admit) as event_bus:
        subscription = event_bus.subscribe("market.tick.>", max_buffer=CHUNK)
        publish = event_bus.publish_nowait
        receive_batch = subscription.receive_batch
        started = time.perf_counter()
        for start in range(0, len(ticks), CHUNK):
            for tick in ticks[start : start + CHUNK]:
                publish(tick)
            batch = await receive_batch(CHUNK, 0.0)
            subscription.ack(len(batch))
        elapsed = time.perf_counter() - started
        if subscription.statistics().acknowledged != len(ticks):
            raise RuntimeError("the bus lost messages")
        subscription.close()
    return len(ticks) / elapsed


async def stream_rate(ticks: Sequence[Tick]) -> float:
    """Messages/s: the same objects through an anyio memory object stream, no encoding."""
    send, receive = anyio.create_memory_object_stream[Tick](CHUNK)
    with send, receive:
        send_nowait = send.send_nowait
        receive_nowait = receive.receive_nowait
        await checkpoint()
        started = time.perf_counter()
        for start in range(0, len(ticks), CHUNK):
            chunk = ticks[start : start + CHUNK]
            for tick in chunk:
                send_nowait(tick)
            for _ in chunk:
                receive_nowait()
            await checkpoint()
        elapsed = time.perf_counter() - started
    return len(ticks) / elapsed


async def bus(ctx: Context) -> ScenarioResult:
    """Issue 3's micro benchmark: the bus against anyio's memory object stream."""
    config = ctx.config
    bus_runs: list[float] = []
    stream_runs: list[float] = []
    for i in range(config.repeat):
        ctx.status(f"run {i + 1}/{config.repeat}")
        bus_runs.append(await bus_rate(ctx.ticks))
        stream_runs.append(await stream_rate(ctx.ticks))
    bus_best, stream_best = max(bus_runs), max(stream_runs)
    ratio = bus_best / stream_best
    figures = {
        "messages": len(ctx.ticks),
        "chunk": CHUNK,
        "bus_msgs_per_s": bus_best,
        "stream_msgs_per_s": stream_best,
        "ratio_to_stream": ratio,
        "bus_runs": bus_runs,
        "stream_runs": stream_runs,
    }
    lines = [
        Line(
            scenario="bus",
            label="publish_nowait + receive_batch, 1 subscription",
            rate=bus_best,
            unit="msgs/s",
            comparable=False,
            note=f"{ratio:.2f}x the memory stream",
        ),
        Line(
            scenario="bus",
            label="anyio memory stream send/receive_nowait",
            rate=stream_best,
            unit="msgs/s",
            comparable=False,
            note="no validation, encoding or routing",
        ),
    ]
    return ScenarioResult(name="bus", figures=figures, lines=lines)
