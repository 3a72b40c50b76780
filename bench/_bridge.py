"""The NATS JetStream bridge: events/s through it, and each stage's ceiling.

A nats-server of its own (JetStream on file storage). For each pair, interleaved
(the plain run first in even pairs, the forwarding one first in odd ones):

* **local**: the run's ticks published on a node hosting the bot's database, until
  ``flush`` returns (committed to its SQLite file): the baseline;
* **forward**: the same on a node that also forwards them to JetStream, until
  ``flush`` returns (committed locally *and* acknowledged by JetStream); then
  executions (events with an ``event_id``), one ``publish`` each, then a flush;

then, one after the other, on the stream the forward run filled:

* **consume**: a fresh consumer into an empty node, until the ticks are committed
  and acknowledged, then the executions;
* **end to end**: node A forwarding in this process, node B consuming in another
  (``bench._bridge_consume``), from the first publish on A until B has committed
  the last tick.

The paired ratio is forward/local (ticks/s). Consume and end-to-end rates are the
medians of the runs.
"""

from __future__ import annotations

import json
import queue
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import nats

from schemas import Tick, TradeExecution
from tradebus import open_node
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder, stream_name

from ._child import LineProcess
from ._context import Context
from ._ingest import YIELD_EVERY, publish_all
from ._results import Line, ScenarioResult
from .servers import NatsServer, ServerUnavailable

__all__ = ["bridge"]

_TOPICS = ["market.tick.>", "trade.execution.>"]
_POLL = 0.005


def _node(path: Path):  # type: ignore[no-untyped-def]
    return open_node(path, roles=["chatgpt_bot"], candles=None, monitor=None, status_file=False)


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the consumer's counters offer nothing to wait on)."""
    while True:
        if condition():
            return
        await anyio.sleep(_POLL)


def _executions(n: int) -> list[TradeExecution]:
    return [
        TradeExecution(ticket=i + 1, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=1.0)
        for i in range(n)
    ]


async def _local(ctx: Context, ticks: list[Tick]) -> float:
    async with _node(ctx.fresh_dir("bridge-local")) as node:
        started = time.perf_counter()
        await publish_all(node.bus, ticks, yield_every=YIELD_EVERY)
        await node.bus.flush()
        return time.perf_counter() - started


async def _forward(
    ctx: Context, url: str, prefix: str, ticks: list[Tick], executions: list[TradeExecution]
) -> tuple[float, float, dict[str, Any]]:
    async with (
        _node(ctx.fresh_dir("bridge-forward")) as node,
        JetStreamForwarder(node, url, prefix=prefix, topics=_TOPICS) as forwarder,
    ):
        started = time.perf_counter()
        await publish_all(node.bus, ticks, yield_every=YIELD_EVERY)
        await node.bus.flush()
        tick_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for execution in executions:
            await node.bus.publish(execution)
        await node.bus.flush()
        event_seconds = time.perf_counter() - started
        return tick_seconds, event_seconds, forwarder.statistics()._asdict()


async def _stream_ends(url: str, prefix: str) -> int:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().stream_info(stream_name("main", prefix))
        return int(info.state.last_seq)
    finally:
        await client.close()


async def _consume(
    ctx: Context, url: str, prefix: str, ticks_end: int, end: int
) -> tuple[float, float]:
    async with _node(ctx.fresh_dir("bridge-consume")) as node:
        started = time.perf_counter()
        async with JetStreamConsumer(node, url, prefix=prefix, database="main") as consumer:
            await _until(lambda: consumer.statistics().acked >= ticks_end)
            tick_seconds = time.perf_counter() - started
            started = time.perf_counter()
            await _until(lambda: consumer.statistics().acked >= end)
            return tick_seconds, time.perf_counter() - started


class _ConsumerProcess(LineProcess):
    """Node B and its consumer in a process of their own (``bench._bridge_consume``)."""

    def next_line(self, timeout: float) -> Any:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise RuntimeError(f"the consumer process did not answer in {timeout:g} s") from None
        if line is None:
            self.process.wait()
            raise RuntimeError(f"the consumer process exited:\n{self.stderr_text()}")
        return json.loads(line)


async def _end_to_end(ctx: Context, url: str, prefix: str, ticks: list[Tick]) -> float:
    """From the first publish on A (this process, forwarding) until B (another
    process, consuming) has committed the last tick."""
    child = _ConsumerProcess(
        "bench._bridge_consume",
        {"data": str(ctx.fresh_dir("bridge-b")), "url": url, "prefix": prefix,
         "target": len(ticks)},
    )  # fmt: skip
    try:
        ready = await anyio.to_thread.run_sync(child.next_line, 120.0)
        if ready != "ready":
            raise RuntimeError(f"the consumer process said {ready!r}")
        async with (
            _node(ctx.fresh_dir("bridge-a")) as a,
            JetStreamForwarder(a, url, prefix=prefix, topics=_TOPICS),
        ):
            started = time.perf_counter()
            await publish_all(a.bus, ticks, yield_every=YIELD_EVERY)
            await a.bus.flush()
            done = await anyio.to_thread.run_sync(child.next_line, 300.0)
            elapsed = time.perf_counter() - started
        if done.get("consumed") != len(ticks):
            raise RuntimeError(f"the consumer process stored {done}, not {len(ticks)}")
        return elapsed
    finally:
        child.close()


async def bridge(ctx: Context) -> ScenarioResult:
    """Interleaved pairs of local and forwarding ingest; consume and end-to-end runs."""
    config = ctx.config
    ticks = list(ctx.ticks[: 10_000 if config.quick else 40_000])
    executions = _executions(len(ticks) // 10)
    try:
        server = NatsServer(ctx.fresh_dir("bridge-nats"))
        server.start()
    except ServerUnavailable as exc:
        line = Line(scenario="bridge", label="skipped", rate=None, unit="", note=str(exc))
        return ScenarioResult(name="bridge", figures={"skipped": str(exc)}, lines=[line])
    runs: list[dict[str, Any]] = []
    try:
        for i in range(config.repeat):
            ctx.status(f"bridge pair {i + 1}/{config.repeat}")
            prefix, e2e_prefix = f"bench{i}", f"bench{i}e"
            if i % 2:
                forward = await _forward(ctx, server.url, prefix, ticks, executions)
                local = await _local(ctx, ticks)
            else:
                local = await _local(ctx, ticks)
                forward = await _forward(ctx, server.url, prefix, ticks, executions)
            end = await _stream_ends(server.url, prefix)
            consume = await _consume(ctx, server.url, prefix, end - len(executions), end)
            e2e = await _end_to_end(ctx, server.url, e2e_prefix, ticks)
            runs.append(
                {
                    "local_ticks_per_s": len(ticks) / local,
                    "forward_ticks_per_s": len(ticks) / forward[0],
                    "forward_events_per_s": len(executions) / forward[1],
                    "consume_ticks_per_s": len(ticks) / consume[0],
                    "consume_events_per_s": len(executions) / consume[1],
                    "end_to_end_ticks_per_s": len(ticks) / e2e,
                    "ratio_forward_to_local": local / forward[0],
                    "forwarder": forward[2],
                }
            )
    finally:
        server.stop()

    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    figures: dict[str, Any] = {
        "ticks": len(ticks),
        "executions": len(executions),
        "runs": runs,
        **{key: median(key) for key in runs[0] if key != "forwarder"},
    }
    ratios = ", ".join(f"{run['ratio_forward_to_local']:.2f}" for run in runs)
    lines = [
        Line(
            scenario="bridge", label="forward ticks to JetStream (stored locally too)",
            rate=median("forward_ticks_per_s"), unit="ticks/s",
            note=f"forward/local paired {median('ratio_forward_to_local'):.2f} ({ratios}); "
            f"local {median('local_ticks_per_s'):,.0f}/s",
        ),
        Line(
            scenario="bridge", label="forward executions (one publish each)",
            rate=median("forward_events_per_s"), unit="events/s", comparable=False,
        ),
        Line(
            scenario="bridge", label="consume ticks from JetStream into SQLite",
            rate=median("consume_ticks_per_s"), unit="ticks/s",
        ),
        Line(
            scenario="bridge", label="consume executions",
            rate=median("consume_events_per_s"), unit="events/s", comparable=False,
        ),
        Line(
            scenario="bridge", label="end to end A -> JetStream -> B (two processes)",
            rate=median("end_to_end_ticks_per_s"), unit="ticks/s",
        ),
    ]  # fmt: skip
    return ScenarioResult(name="bridge", figures=figures, lines=lines)
