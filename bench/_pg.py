"""pg-ticks: ticks into PostgreSQL through a node (publish -> committed) against plain
asyncpg binary COPY of the same rows into the same schema, in transactions of the
same size, in interleaved pairs on a server of the run's own."""

from __future__ import annotations

import statistics
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import anyio
import asyncpg

from bench.servers import PostgresServer, ServerUnavailable
from schemas import Tick
from tradebus import open_node
from writers import MAIN
from writers._pg_specs import pg_spec
from writers._tables import TABLES

from ._context import Context
from ._ingest import YIELD_EVERY, publish_all
from ._results import Line, ScenarioResult
from ._sched import RunQueueProbe

__all__ = ["pg_ticks"]

_COLUMNS = tuple(c.name for c in TABLES["unified_ticks"].columns)


def _dsn(server: PostgresServer, name: str) -> str:
    return urllib.parse.urlsplit(server.dsn)._replace(path=f"/{name}").geturl()


async def _fresh(server: PostgresServer, name: str) -> str:
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _dsn(server, name)


def _records(ticks: Sequence[Tick]) -> list[tuple[Any, ...]]:
    """The rows the store writes for ``ticks`` (seqs from 1), in the table's order."""
    rows = []
    for seq, t in enumerate(ticks, 1):
        values = {"symbol": t.symbol, "ts": t.ts, "seq": seq, "bid": t.bid, "ask": t.ask,
                  "last": t.last, "volume": t.volume, "source": t.source}  # fmt: skip
        rows.append(tuple(values[c] for c in _COLUMNS))
    return rows


async def _copy_run(dsn: str, records: list[tuple[Any, ...]], batch: int) -> float:
    """Plain asyncpg: the schema made first (not timed), then one transaction of a
    binary COPY per ``batch`` rows."""
    conn = await asyncpg.connect(dsn)
    try:
        for script in pg_spec(MAIN).migrations:
            if script.strip():
                await conn.execute(script)
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "unified_ticks", records=records[i : i + batch], columns=_COLUMNS
                )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _node_run(ctx: Context, dsn: str) -> tuple[float, dict[str, Any]]:
    """Through a node (the bot's role, its database in PostgreSQL): publish every
    tick (a producer that yields every ``YIELD_EVERY``, as a feed awaiting its
    source does: the writer shares the event loop), until ``flush`` returns (the
    node is started, its schema made, before)."""
    config = ctx.config
    async with open_node(
        ctx.fresh_dir("pg-node"),
        roles=["chatgpt_bot"],
        stores={"main": dsn},
        candles=None,
        monitor=None,
        status_file=False,
        max_batch=config.max_batch,
        max_delay=config.max_delay,
    ) as node:
        bus = node.bus
        probe = RunQueueProbe()
        started = time.perf_counter()
        await publish_all(bus, ctx.ticks, yield_every=YIELD_EVERY)
        await bus.flush()
        seconds = time.perf_counter() - started
        disturbance = probe.stop(seconds)
        stats = node.statistics().writers["main"]
    figures = {
        "batches": stats.batches,
        "mean_batch": stats.mean_batch,
        "mean_commit_ms": stats.mean_commit_ms,
        "disturbed": disturbance.disturbed,
    }
    return seconds, figures


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM unified_ticks"))
    finally:
        await conn.close()


async def pg_ticks(ctx: Context) -> ScenarioResult:
    """See the module. A pair's ratio is the COPY run's time over the node's: 1.0 is
    as fast as plain COPY; the target is at least 0.8."""
    config = ctx.config
    try:
        server = PostgresServer(ctx.fresh_dir("pg-server"))
        await anyio.to_thread.run_sync(server.start)
    except ServerUnavailable as exc:
        line = Line(scenario="pg-ticks", label="ticks into PostgreSQL", rate=None,
                    unit="ticks/s", comparable=False, note=f"skipped: {exc}")  # fmt: skip
        return ScenarioResult(name="pg-ticks", figures={"skipped": str(exc)}, lines=[line])
    records = _records(ctx.ticks)
    pairs: list[dict[str, Any]] = []
    try:
        for i in range(config.repeat):
            ctx.status(f"pair {i + 1}/{config.repeat}")
            node_first = i % 2 == 1
            if node_first:
                node_dsn = await _fresh(server, f"pg_node_{i}")
                node_seconds, node_figures = await _node_run(ctx, node_dsn)
            copy_dsn = await _fresh(server, f"pg_copy_{i}")
            copy_seconds = await _copy_run(copy_dsn, records, config.max_batch)
            if not node_first:
                node_dsn = await _fresh(server, f"pg_node_{i}")
                node_seconds, node_figures = await _node_run(ctx, node_dsn)
            for dsn in (node_dsn, copy_dsn):
                stored = await _count(dsn)
                if stored != len(records):
                    raise RuntimeError(f"{dsn}: {stored} ticks stored of {len(records)}")
            pairs.append({
                "first": "node" if node_first else "copy",
                "ratio": copy_seconds / node_seconds,
                "node_seconds": node_seconds,
                "copy_seconds": copy_seconds,
                "node": node_figures,
            })  # fmt: skip
    finally:
        await anyio.to_thread.run_sync(server.close)
    ratio = statistics.median(pair["ratio"] for pair in pairs)
    ticks = len(records)
    best_node = min(pair["node_seconds"] for pair in pairs)
    best_copy = min(pair["copy_seconds"] for pair in pairs)
    figures: dict[str, Any] = {
        "ticks": ticks,
        "batch": config.max_batch,
        "ticks_per_s": ticks / best_node,
        "copy_ticks_per_s": ticks / best_copy,
        "ratio_to_copy": ratio,
        "ratios": [pair["ratio"] for pair in pairs],
        "pairs": pairs,
    }
    return ScenarioResult(
        name="pg-ticks",
        figures=figures,
        lines=[
            Line(
                scenario="pg-ticks",
                label="ticks into PostgreSQL via a node (publish -> committed)",
                rate=figures["ticks_per_s"],
                unit="ticks/s",
                comparable=False,
                note=f"{ratio:.2f}x plain asyncpg COPY ({ticks / best_copy:,.0f}/s; "
                f"median of {len(pairs)} pairs)",
            )
        ],
    )
