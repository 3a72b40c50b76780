"""A lone ``log_trade_execution`` on an idle node: its round trip against one commit."""

from __future__ import annotations

import statistics
import time
from typing import Any

import anyio

import schemas
from schemas import TradeExecution
from tradebus import open_node

from ._context import Context
from ._results import Line, ScenarioResult, percentile
from ._sched import RunQueueProbe

__all__ = ["ROLE", "lone_call"]

#: The role that owns the main database (where trade executions are stored).
ROLE = "chatgpt_bot"
_WARM_UP = 20


def _commit_totals(node: Any) -> tuple[int, float]:
    """(batches, total commit ms) of the main writer, from its public statistics."""
    writer = node.statistics().writers["main"]
    return writer.batches, writer.mean_commit_ms * writer.batches


async def lone_call(ctx: Context) -> ScenarioResult:
    """Sequential calls, each with a fresh ticket, a pause before each (the node idle).

    The round trip is from the call to its return (the execution committed); the
    mean commit is the main writer's, over the measured calls only. Then as many
    ``bus.publish(execution, wait=True)`` of executions built before the pause (no
    validation, reference read or routing check in the round trip), each against its
    own mean commit: the writer's path alone.
    """
    config = ctx.config
    folder = ctx.fresh_dir("lone-call")
    round_trips_ms: list[float] = []
    published_ms: list[float] = []
    async with open_node(folder, roles=[ROLE], max_delay=config.max_delay) as node:
        log = node.integration(ROLE).log_trade_execution
        ticket = 1_000

        async def call() -> float:
            nonlocal ticket
            ticket += 1
            started = time.perf_counter()
            await log(ticket=ticket, symbol="EURUSD", direction="BUY", entry_price=1.085,
                      volume=0.1)  # fmt: skip
            return (time.perf_counter() - started) * 1000

        ctx.status("warming up")
        for _ in range(_WARM_UP):
            await call()
            await anyio.sleep(config.lone_pause)
        batches_before, commit_ms_before = _commit_totals(node)
        probe, began = RunQueueProbe(), time.perf_counter()
        for i in range(config.lone_calls):
            if i % 20 == 0:
                ctx.status(f"call {i + 1}/{config.lone_calls}")
            await anyio.sleep(config.lone_pause)
            round_trips_ms.append(await call())
        disturbance = probe.stop(time.perf_counter() - began)
        batches, commit_ms = _commit_totals(node)
        for i in range(config.lone_calls):
            if i % 20 == 0:
                ctx.status(f"pre-built publish {i + 1}/{config.lone_calls}")
            ticket += 1
            execution = schemas.build(
                TradeExecution, ticket=ticket, symbol="EURUSD", direction="BUY",
                entry_price=1.085, volume=0.1,
            )  # fmt: skip
            await anyio.sleep(config.lone_pause)
            started = time.perf_counter()
            await node.bus.publish(execution, wait=True)
            published_ms.append((time.perf_counter() - started) * 1000)
        published_batches, published_commit_ms = _commit_totals(node)
    commits = batches - batches_before
    mean_commit = (commit_ms - commit_ms_before) / commits if commits else float("nan")
    published_commits = published_batches - batches
    published_commit = (
        (published_commit_ms - commit_ms) / published_commits if published_commits else float("nan")
    )
    published_median = statistics.median(published_ms)
    ordered = sorted(round_trips_ms)
    median = statistics.median(ordered)
    figures: dict[str, Any] = {
        "calls": len(ordered),
        "pause_ms": config.lone_pause * 1000,
        "max_delay_ms": config.max_delay * 1000,
        "round_trip_p50_ms": median,
        "round_trip_p90_ms": percentile(ordered, 90),
        "round_trip_max_ms": ordered[-1],
        "commits": commits,
        "mean_commit_ms": mean_commit,
        "ratio_to_commit": median / mean_commit if mean_commit > 0 else None,
        # The writer's path alone: publish(wait=True) of an execution built before the
        # pause; its commit is then the first work after the pause.
        "prebuilt_round_trip_p50_ms": published_median,
        "prebuilt_mean_commit_ms": published_commit,
        "prebuilt_ratio_to_commit": (
            published_median / published_commit if published_commit > 0 else None
        ),
        "disturbance": disturbance.to_json(),
    }
    line = Line(
        scenario="lone-call",
        label="log_trade_execution on an idle node",
        rate=len(ordered) / (sum(ordered) / 1000),
        unit="calls/s",
        comparable=False,
        note=f"round trip p50 {median:.2f} / p90 {figures['round_trip_p90_ms']:.2f} ms; "
        f"mean commit {mean_commit:.2f} ms over {commits} commits; pre-built "
        f"publish(wait=True) p50 {published_median:.2f} ms, its mean commit "
        f"{published_commit:.2f} ms",
    )
    return ScenarioResult(name="lone-call", figures=figures, lines=[line])
