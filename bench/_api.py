"""The HTTP API under load beside tick ingest (``api-load``), on loopback.

Per pair, in a fresh data directory: a real ``tradebus serve`` process (the
``api_server`` role), and in this process a ``chatgpt_bot`` node (the bot's database)
seeded with ticks. Then two ingest runs of the run's ticks (each shifted past the
ticks already stored), as fast as they go (the yielding producer, timed until
``flush()``): one *alone* (the server idle) and one *loaded*, while a load-generator
process (``bench._api_load``) keeps the API busy: connections asking for the latest
100 ticks of a symbol and connections posting one monitoring or alert event each,
every connection asking again as soon as it is answered. The order alternates
between pairs. The generator measures exactly the loaded run's window. Last, the same
load on the API alone (no ingest) for as long as the loaded run took: what ingest
takes from the API.

Ingest runs as fast as it goes rather than at an offered rate: a paced producer
below the machine's capacity would report 1.0x until the API took more CPU than was
spare, and say nothing about how much the API takes from ingest; at full speed the
ratio of the two rates is that share directly. The API's latencies are therefore
measured on a machine whose CPUs are all busy: the worst case, not a typical one.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

import anyio
import anyio.to_thread
import msgspec

from schemas import Tick
from tradebus import open_node

from ._child import LineProcess, project_env
from ._context import Context
from ._ingest import YIELD_EVERY, count_ticks, publish_all
from ._results import Line, ScenarioResult, summarize_ms
from ._sched import RunQueueProbe
from ._ticks import symbol_names

__all__ = ["INTAKE_CONNECTIONS", "READ_CONNECTIONS", "api_load"]

#: Keep-alive connections asking for the latest ticks, and posting events.
READ_CONNECTIONS: Final = 4
INTAKE_CONNECTIONS: Final = 2
#: The generator stops by itself past these (a hung ingest never loads forever).
MAX_REQUESTS: Final = 500_000
MAX_SECONDS: Final = 120.0
#: Ticks stored before the runs, so that every read returns a full page.
SEED_TICKS: Final = 20_000
_START_TIMEOUT: Final = 60.0
_LISTENING = re.compile(r"the API listens on http://([^:/\s]+):(\d+)")
_ROLE: Final = "chatgpt_bot"


class _Server:
    """``tradebus serve --port 0`` on loopback, in its own process."""

    def __init__(self, data_dir: Path) -> None:
        self.log = data_dir.parent / f"{data_dir.name}-server.log"
        # Closed in stop(): the file lives as long as the process writing it.
        self._out: IO[bytes] = self.log.open("wb")
        command = [sys.executable, "-m", "tradebus", "serve", "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            stdout=self._out,
            stderr=self._out,
            env=project_env(),
        )
        self.host = ""
        self.port = 0

    async def listening(self) -> None:
        with anyio.fail_after(_START_TIMEOUT):
            while True:
                found = _LISTENING.search(self.log.read_text(errors="replace"))
                if found:
                    self.host, self.port = found.group(1), int(found.group(2))
                    return
                if self.process.poll() is not None:
                    raise RuntimeError(f"tradebus serve exited:\n{self.output()}")
                await anyio.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            await anyio.to_thread.run_sync(self.process.wait, 60)
        finally:
            self._out.close()
        if self.process.returncode != 0:
            raise RuntimeError(f"tradebus serve exited {self.process.returncode}:\n{self.output()}")


class _Load(LineProcess):
    """One ``python -m bench._api_load`` process and its line protocol."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__("bench._api_load", params)

    async def line(self, within: float) -> Any:
        """The next JSON line it prints (``within`` seconds at most)."""
        try:
            line = await anyio.to_thread.run_sync(self._lines.get, True, within)
        except queue.Empty:
            raise RuntimeError(f"the API load generator said nothing in {within:g} s") from None
        if line is None:
            await anyio.to_thread.run_sync(self.process.wait)
            raise RuntimeError(
                f"the API load generator exited {self.process.returncode}:\n{self.stderr_text()}"
            )
        return json.loads(line)


def _shifted(ticks: Sequence[Tick], offset: int) -> list[Tick]:
    return [msgspec.structs.replace(t, ts=t.ts + offset) for t in ticks]


async def _ingest(
    node: Any, ticks: list[Tick], load: _Load | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Publish ``ticks``, timed until ``flush()``; with ``load``, under its load."""
    probe = RunQueueProbe()
    started = time.perf_counter()
    if load is not None:
        load.send("")  # go
    await publish_all(node.bus, ticks, yield_every=YIELD_EVERY)
    await node.bus.flush()
    seconds = time.perf_counter() - started
    measured = None
    if load is not None:
        load.send("")  # stop
        measured = await load.line(MAX_SECONDS + 30)
    disturbance = probe.stop(seconds)
    run = {
        "seconds": seconds,
        "ticks_per_s": len(ticks) / seconds,
        "disturbance": disturbance.to_json(),
    }
    return run, measured


def _load_figures(measured: dict[str, Any]) -> dict[str, Any]:
    seconds = measured["seconds"]
    figures: dict[str, Any] = {"seconds": seconds, "stopped_by_bound": measured["stopped_by_bound"]}
    for kind in ("reads", "intake"):
        latencies = measured["latencies_s"][kind]
        statuses = measured["statuses"][kind]
        ok = sum(n for status, n in statuses.items() if status.startswith("2"))
        figures[kind] = {
            "requests": len(latencies),
            "requests_per_s": len(latencies) / seconds if seconds else 0.0,
            "ok": ok,
            "statuses": statuses,
            "body_bytes": measured["body_bytes"][kind],
            "latency": summarize_ms([s * 1000 for s in latencies]),
        }
    return figures


async def _load_alone(params: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The same load on the API for ``seconds``, with nothing else running."""
    load = _Load(params)
    try:
        if await load.line(_START_TIMEOUT) != "ready":
            raise RuntimeError("the API load generator did not say ready")
        load.send("")  # go
        await anyio.sleep(seconds)
        load.send("")  # stop
        measured: dict[str, Any] = await load.line(MAX_SECONDS + 30)
    finally:
        load.close()
    return measured


async def _pair(ctx: Context, n: int, symbols: list[str]) -> dict[str, Any]:
    config = ctx.config
    ticks = ctx.ticks
    span = ticks[-1].ts - ticks[0].ts + 1
    seed = _shifted(ticks[:SEED_TICKS], -span)  # older than every run's ticks
    folder = ctx.fresh_dir("api-load") / "data"
    server = _Server(folder)
    runs: dict[str, dict[str, Any]] = {}
    measured: dict[str, Any] | None = None
    try:
        await server.listening()
        params = {
            "host": server.host,
            "port": server.port,
            "symbols": symbols,
            "read_connections": READ_CONNECTIONS,
            "intake_connections": INTAKE_CONNECTIONS,
            "max_requests": MAX_REQUESTS,
            "max_seconds": MAX_SECONDS,
        }
        async with open_node(
            folder,
            roles=[_ROLE],
            max_batch=config.max_batch,
            max_delay=config.max_delay,
            candles=(),
            monitor=None,
        ) as node:
            await publish_all(node.bus, seed, yield_every=YIELD_EVERY)
            await node.bus.flush()
            order = ("alone", "loaded") if n % 2 == 0 else ("loaded", "alone")
            for k, name in enumerate(order):
                batch = _shifted(ticks, k * span)
                ctx.status(f"pair {n + 1}/{config.repeat}: ingest {name}")
                if name == "alone":
                    runs[name], _ = await _ingest(node, batch, None)
                    continue
                load = _Load(params)
                try:
                    if await load.line(_START_TIMEOUT) != "ready":
                        raise RuntimeError("the API load generator did not say ready")
                    runs[name], measured = await _ingest(node, batch, load)
                finally:
                    load.close()
        # The API alone, as long as the loaded run took: what ingest took from it.
        ctx.status(f"pair {n + 1}/{config.repeat}: the API alone")
        alone = await _load_alone(params, runs["loaded"]["seconds"])
    finally:
        await server.stop()
    stored = count_ticks(folder / "unified_tick_pipeline.db")
    if stored != len(seed) + 2 * len(ticks):
        raise RuntimeError(
            f"{folder}: {stored} ticks stored, {len(seed) + 2 * len(ticks)} expected"
        )
    assert measured is not None
    load_figures = _load_figures(measured)
    for kind, path in (("reads", "GET /api/v1/ticks"), ("intake", "POST /api/v1/events")):
        figures = load_figures[kind]
        if figures["requests"] and not figures["ok"]:
            raise RuntimeError(
                f"{path} answered no request with a 2xx (statuses {figures['statuses']}): "
                f"does this server have the endpoint?\n{server.output()}"
            )
    return {
        "first": order[0],
        "alone": runs["alone"],
        "loaded": runs["loaded"],
        "ratio": runs["loaded"]["ticks_per_s"] / runs["alone"]["ticks_per_s"],
        "load": load_figures,
        "api_alone": _load_figures(alone),
        "latencies_ms": {
            f"{kind}{suffix}": [s * 1000 for s in run["latencies_s"][kind]]
            for kind in ("reads", "intake")
            for suffix, run in (("", measured), (" alone", alone))
        },
    }


_LABELS: Final = {
    "reads": f"GET /api/v1/ticks?limit=100, {READ_CONNECTIONS} connections, beside ingest",
    "reads alone": "the same, the API alone",
    "intake": f"POST /api/v1/events (one event), {INTAKE_CONNECTIONS} connections, beside ingest",
    "intake alone": "the same, the API alone",
}


def _api_line(api: dict[str, Any], kind: str, label: str) -> Line:
    figures = api[kind]
    latency = figures["latency"]
    return Line(
        scenario="api-load",
        label=label,
        rate=figures["requests_per_s"],
        unit="requests/s",
        comparable=False,
        note=f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms",
    )


async def api_load(ctx: Context) -> ScenarioResult:
    """``--repeat`` pairs (ingest alone, ingest beside the loaded API; alone first in
    even pairs): the median ratio of the rates, and the API's rates and latencies."""
    config = ctx.config
    symbols = symbol_names(config.symbols)
    pairs = [await _pair(ctx, n, symbols) for n in range(config.repeat)]
    latencies: dict[str, list[float]] = {}
    for pair in pairs:
        for kind, values in pair.pop("latencies_ms").items():
            latencies.setdefault(kind, []).extend(values)
    ratios = [p["ratio"] for p in pairs]
    # The loaded run's own threads wait for the CPUs the API takes: only the run
    # alone says whether the rest of the machine disturbed a pair.
    calm = [p["ratio"] for p in pairs if not p["alone"]["disturbance"]["disturbed"]]
    ratio = statistics.median(ratios)
    calm_ratio = statistics.median(calm) if calm else None
    api: dict[str, Any] = {}
    for key, suffix in (("load", ""), ("api_alone", " alone")):
        window = sum(p[key]["seconds"] for p in pairs)
        for kind in ("reads", "intake"):
            requests = sum(p[key][kind]["requests"] for p in pairs)
            api[f"{kind}{suffix}"] = {
                "requests": requests,
                "requests_per_s": requests / window if window else 0.0,
                "latency": summarize_ms(latencies[f"{kind}{suffix}"]),
            }
    figures: dict[str, Any] = {
        "ticks": len(ctx.ticks),
        "seed_ticks": min(SEED_TICKS, len(ctx.ticks)),
        "read_connections": READ_CONNECTIONS,
        "intake_connections": INTAKE_CONNECTIONS,
        "ratio_to_alone": ratio,
        "ratio_to_alone_undisturbed": calm_ratio,
        "pairs_undisturbed": len(calm),
        "ratios": ratios,
        "alone_ticks_per_s": max(p["alone"]["ticks_per_s"] for p in pairs),
        "loaded_ticks_per_s": max(p["loaded"]["ticks_per_s"] for p in pairs),
        "api": api,
        "pairs": pairs,
    }
    calm_text = "none" if calm_ratio is None else f"{calm_ratio:.2f}x"
    lines = [
        Line(
            scenario="api-load",
            label="ingest beside the loaded API",
            rate=figures["loaded_ticks_per_s"],
            unit="ticks/s",
            comparable=False,
            note=f"{ratio:.2f}x ingest alone (median of {len(pairs)} pairs; "
            f"alone undisturbed {len(calm)}/{len(pairs)}: {calm_text})",
        ),
        *(_api_line(api, kind, label) for kind, label in _LABELS.items()),
    ]
    return ScenarioResult(
        name="api-load",
        figures=figures,
        lines=lines,
        latencies_ms={f"api {kind}": values for kind, values in latencies.items()},
    )
