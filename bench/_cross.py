"""Delivery between processes: tick throughput, a lifecycle event's latency, idle CPU.

Every figure here is measured with separate role processes (``python -m bench._worker``
running :mod:`bench._cross_worker`) on one data directory, as the three-process
system runs: a node that does not host a database's owner role appends what it
publishes for it to the outbox of its own file, and the owner's relay stores it.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread

from writers import reader_uri

from ._context import Context
from ._ingest import YIELD_EVERY, ingest_tradebus, writer_figures
from ._processes import Worker
from ._results import Line, ScenarioResult, Target, summarize_ms
from ._sched import load_average

__all__ = [
    "IDLE_CPU_LIMIT",
    "LATENCY_LIMIT_MS",
    "SENDER_ROLE",
    "TICKS_RATIO_TARGET",
    "TICK_LOAD_RATE",
    "cross_latency",
    "cross_targets",
    "cross_ticks",
    "idle_cpu",
]

#: The role of the process that sends the ticks (the bot's database is not its own).
SENDER_ROLE: Final = "api_server"
#: cross-ticks must reach this share of the in-process ingest of the same ticks.
TICKS_RATIO_TARGET: Final = 0.5
#: The bot's own tick feed while cross-latency measures under load (ticks/s).
TICK_LOAD_RATE: Final = 20_000
#: cross-latency's p99 at idle must be below this (ms).
LATENCY_LIMIT_MS: Final = 100.0
#: idle-cpu: each role process must use less than this share of one core.
IDLE_CPU_LIMIT: Final = 0.02
_ROLES: Final = ("chatgpt_bot", "desktop_agent", "api_server")
_MAIN_FILE: Final = "unified_tick_pipeline.db"
_TIMEOUT: Final = 600.0  # a worker builds its ticks first; this machine may be slow
_PAUSE: Final = 0.02  # between two lifecycle calls: each finds the pipeline idle
_SETTLE: Final = 0.5  # after start-up, before idle CPU is measured or load calls start


def _stored_ticks(data_dir: Path) -> int:
    conn = sqlite3.connect(reader_uri(data_dir / _MAIN_FILE), uri=True)
    try:
        (count,) = conn.execute("SELECT count(*) FROM unified_ticks").fetchone()
    finally:
        conn.close()
    return int(count)


def _serve(
    owner: dict[str, Any], client: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start an owner process and a client process; once both run, go; once the client
    is done, stop the owner. Their results (client's, owner's)."""
    workers = [Worker(owner), Worker(client)]
    try:
        for worker in workers:
            worker.wait_ready(_TIMEOUT)
        for worker in workers:
            worker.send("go")
        done = workers[1].result(timeout)
        workers[0].send("stop")
        return done, workers[0].result(timeout)
    finally:
        for worker in workers:
            worker.close()


# ------------------------------------------------------------------ cross-ticks


def _cross_once(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    config = ctx.config
    folder = ctx.fresh_dir("cross-ticks")
    common = {"data_dir": str(folder), "max_batch": config.max_batch,
              "max_delay": config.max_delay}  # fmt: skip
    sender, owner = _serve(
        common | {"role": "cross-owner"},
        common
        | {
            "role": "cross-sender",
            "sender_role": SENDER_ROLE,
            "ticks": config.ticks,
            "symbols": config.symbols,
            "seed": config.seed,
            "yield_every": YIELD_EVERY,
            "timeout": _TIMEOUT,
        },
        _TIMEOUT,
    )
    stored = _stored_ticks(folder)
    if stored != config.ticks:
        raise RuntimeError(f"{folder}: {stored} ticks stored by the owner, {config.ticks} sent")
    return sender, owner


async def cross_ticks(ctx: Context) -> ScenarioResult:
    """Ticks sent by one role process for the bot's database, stored by the bot's
    process: from the first publish until the sender's ``delivered()`` returns.

    Paired with the in-process ingest of the same ticks (the yielding producer, the
    same writer settings), each first in every other pair.
    """
    config = ctx.config
    pairs: list[dict[str, Any]] = []
    for i in range(config.repeat):
        ctx.status(f"pair {i + 1}/{config.repeat}")
        cross_first = i % 2 == 1
        if cross_first:
            sender, owner = await anyio.to_thread.run_sync(_cross_once, ctx)
        reference = await ingest_tradebus(
            ctx.db_path("cross-ticks-in-process"),
            ctx.ticks,
            max_batch=config.max_batch,
            max_delay=config.max_delay,
            yield_every=YIELD_EVERY,
        )
        if not cross_first:
            sender, owner = await anyio.to_thread.run_sync(_cross_once, ctx)
        pairs.append(
            {
                "first": "cross" if cross_first else "in-process",
                "ratio": reference.seconds / sender["seconds"],
                "cross_seconds": sender["seconds"],
                "in_process_seconds": reference.seconds,
                "sender": sender,
                "owner": owner,
                "in_process_writer": writer_figures(reference.writer),
                "load1": load_average(),
            }
        )
    ratio = statistics.median(pair["ratio"] for pair in pairs)
    best = min(pairs, key=lambda pair: pair["cross_seconds"])
    in_process = min(pair["in_process_seconds"] for pair in pairs)
    outbox_s = best["sender"]["outbox_seconds"]
    figures: dict[str, Any] = {
        "ticks": config.ticks,
        "sender_role": SENDER_ROLE,
        "yield_every": YIELD_EVERY,
        "seconds": best["cross_seconds"],
        "ticks_per_s": config.ticks / best["cross_seconds"],
        "in_process_ticks_per_s": config.ticks / in_process,
        "outbox_ticks_per_s": config.ticks / outbox_s,
        "ratio_to_in_process": ratio,
        "ratios": [pair["ratio"] for pair in pairs],
        "pairs": pairs,
    }
    owner_cpu = best["owner"]["cpu_seconds"] / best["cross_seconds"]
    sender_cpu = best["sender"]["cpu_seconds"] / best["cross_seconds"]
    line = Line(
        scenario="cross-ticks",
        label=f"{SENDER_ROLE} process -> outbox -> bot process's relay -> main",
        rate=figures["ticks_per_s"],
        unit="ticks/s",
        note=f"paired with in-process ingest {ratio:.2f}x (median of {len(pairs)}); "
        f"sender's outbox done after {outbox_s:.2f} s of {best['cross_seconds']:.2f} s; "
        f"sender CPU {sender_cpu:.0%}, owner CPU {owner_cpu:.0%} of a core (per thread "
        f"in the JSON); owner mean batch "
        f"{best['owner']['writer']['mean_batch']:.0f}",
    )
    return ScenarioResult(name="cross-ticks", figures=figures, lines=[line])


# ---------------------------------------------------------------- cross-latency


async def _latency_round(ctx: Context, tick_rate: int) -> tuple[dict[str, Any], list[float]]:
    config = ctx.config
    folder = ctx.fresh_dir(f"cross-latency-{tick_rate}")
    common = {"data_dir": str(folder), "max_batch": config.max_batch,
              "max_delay": config.max_delay}  # fmt: skip
    owner_params = common | {
        "role": "cross-owner",
        "tick_rate": tick_rate,
        "ticks": config.ticks,
        "symbols": config.symbols,
        "seed": config.seed,
    }
    agent_params = common | {
        "role": "cross-agent",
        "calls": config.lone_calls,
        "pause": _PAUSE,
        "settle": _SETTLE if tick_rate else 0.0,
    }
    agent, owner = await anyio.to_thread.run_sync(_serve, owner_params, agent_params, _TIMEOUT)
    samples: list[float] = agent["committed_ms"]
    committed = summarize_ms(samples)
    returned = summarize_ms(agent["returned_ms"])
    return {
        "tick_rate": tick_rate,
        "tick_rate_achieved": owner["tick_rate_achieved"],
        "committed": committed,
        "returned": returned,
        "owner": owner,
        "load1": load_average(),
    }, samples


async def cross_latency(ctx: Context) -> ScenarioResult:
    """``log_trade_execution`` in the agent's process, stored in the bot's database:
    from the call until the agent's ``delivered()`` returns (the bot's commit, seen by
    the sender), one call at a time; with the bot idle, then feeding ticks."""
    rounds: dict[str, dict[str, Any]] = {}
    lines: list[Line] = []
    latencies: dict[str, list[float]] = {}
    for name, rate in (("idle", 0), ("under_load", TICK_LOAD_RATE)):
        ctx.status(f"{ctx.config.lone_calls} calls, bot {'idle' if not rate else f'{rate:,}/s'}")
        result, latencies[f"cross-latency, {name.replace('_', ' ')}"] = await _latency_round(
            ctx, rate
        )
        rounds[name] = result
        committed, returned = result["committed"], result["returned"]
        achieved = result["tick_rate_achieved"]
        load = f"bot feeding {achieved:,.0f} ticks/s" if rate else "bot idle"
        lines.append(
            Line(
                scenario="cross-latency",
                label=f"agent log_trade_execution -> bot's commit, {load}",
                rate=None,
                unit="",
                comparable=False,
                note=f"p50 {committed['p50_ms']:.1f} / p99 {committed['p99_ms']:.1f} / max "
                f"{committed['max_ms']:.1f} ms ({committed['count']} calls); the call itself "
                f"(in the agent's outbox) p50 {returned['p50_ms']:.1f} ms",
            )
        )
    figures: dict[str, Any] = {
        "calls": ctx.config.lone_calls,
        "pause_ms": _PAUSE * 1000,
        "tick_load_rate": TICK_LOAD_RATE,
        "measured_until": "the agent's delivered() returned",
        **rounds,
    }
    return ScenarioResult(
        name="cross-latency", figures=figures, lines=lines, latencies_ms=latencies
    )


# --------------------------------------------------------------------- idle-cpu


def _idle_together(ctx: Context, seconds: float) -> list[dict[str, Any]]:
    folder = ctx.fresh_dir("idle-cpu")
    workers = [
        Worker(
            {
                "role": "idle",
                "node_role": role,
                "data_dir": str(folder),
                "seconds": seconds,
                "settle": _SETTLE,
            }
        )
        for role in _ROLES
    ]
    try:
        for worker in workers:
            worker.wait_ready(_TIMEOUT)
        for worker in workers:
            worker.send("go")
        return [worker.result(seconds + _TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            worker.close()


def _top_threads(threads: dict[str, float], seconds: float) -> str:
    busiest = sorted(threads.items(), key=lambda item: -item[1])[:2]
    return ", ".join(f"{name} {cpu / seconds:.2%}" for name, cpu in busiest if cpu > 0)


async def idle_cpu(ctx: Context) -> ScenarioResult:
    """Three role processes on one data directory, nothing published: the CPU each
    takes (user + system, every thread) as a share of one core."""
    seconds = ctx.config.seconds
    ctx.status(f"3 idle role processes for {seconds:g} s")
    started = time.monotonic()
    results = await anyio.to_thread.run_sync(_idle_together, ctx, seconds)
    figures: dict[str, Any] = {
        "seconds": seconds,
        "settle_s": _SETTLE,
        "wall_s": time.monotonic() - started,
        "processes": {r["role"]: r for r in results},
        "max_cpu_share": max(r["cpu_share"] for r in results),
    }
    lines = [
        Line(
            scenario="idle-cpu",
            label=f"{r['role']} process, nothing published",
            rate=None,
            unit="",
            comparable=False,
            note=f"{r['cpu_share']:.2%} of a core over {r['seconds']:.1f} s; "
            f"{r['context_switches_per_s']:,.0f} context switches/s; busiest threads: "
            f"{_top_threads(r['thread_cpu_seconds'], r['seconds']) or 'none measurable'}",
        )
        for r in results
    ]
    return ScenarioResult(name="idle-cpu", figures=figures, lines=lines)


# ---------------------------------------------------------------------- targets


def cross_targets(results: dict[str, ScenarioResult]) -> list[Target]:
    """The targets of the cross-process scenarios (``measured="not run"`` if absent)."""
    targets: list[Target] = []
    ticks = results.get("cross-ticks")
    ratio = None if ticks is None else ticks.figures["ratio_to_in_process"]
    targets.append(
        Target(
            name="cross-ticks vs in-process ingest (median of pairs)",
            required=f">= {TICKS_RATIO_TARGET:.2f}x",
            measured="not run" if ratio is None else f"{ratio:.2f}x",
            passed=None if ratio is None else ratio >= TICKS_RATIO_TARGET,
        )
    )
    latency = results.get("cross-latency")
    idle = None if latency is None else latency.figures["idle"]["committed"]
    measured = "not run"
    if latency is not None and idle is not None:
        load = latency.figures["under_load"]["committed"]
        measured = f"{idle['p99_ms']:.1f} ms (under load {load['p99_ms']:.1f} ms)"
    targets.append(
        Target(
            name="cross-process log_trade_execution to the owner's commit, p99 at idle",
            required=f"< {LATENCY_LIMIT_MS:g} ms",
            measured=measured,
            passed=None if idle is None else idle["p99_ms"] < LATENCY_LIMIT_MS,
        )
    )
    cpu = results.get("idle-cpu")
    share = None if cpu is None else cpu.figures["max_cpu_share"]
    targets.append(
        Target(
            name="idle CPU of each role process (the busiest)",
            required=f"< {IDLE_CPU_LIMIT:.0%} of a core",
            measured="not run" if share is None else f"{share:.2%}",
            passed=None if share is None else share < IDLE_CPU_LIMIT,
        )
    )
    return targets
