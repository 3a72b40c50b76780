"""What a benchmark run measures, and with which sizes (quick and full presets)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Final

__all__ = ["SCENARIOS", "BenchConfig"]

#: Every scenario, in the order a run executes them (ceiling and naive first: the
#: other figures are stated as ratios to them).
SCENARIOS: Final = (
    "ceiling",
    "naive",
    "tradebus",
    "tradebus-yielding",
    "switch-interval",
    "read-under-write",
    "latency",
    "batch-sweep",
    "shared-file",
    "three-files",
    "bus",
    "lone-call",
    "overload",
    "cross-ticks",
    "cross-latency",
    "idle-cpu",
    "prune",
    "import-ticks",
    "candles",
    "api-load",
    "pg-ticks",
    "bridge",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """The parameters of one run; every scenario reads the ones it needs.

    :param ticks: ticks per ingest run (ceiling, tradebus, read-under-write, sweep, bus).
    :param symbols: how many symbols the random walk spreads the ticks over.
    :param max_batch: the writer's ``max_batch``, and the ceiling's rows per transaction.
    :param max_delay: the writer's ``max_delay`` in seconds.
    :param seed: the random walk's seed: the same seed gives the same ticks.
    :param repeat: runs of each throughput measurement; the best one is reported. For
        ``tradebus`` and ``tradebus-yielding``: the pairs (a ceiling run, then a
        tradebus run) whose median ratio is compared with the target; for
        ``switch-interval``: the pairs (the writer's default interval and ``None``).
    :param bus_pairs: pairs of the ``bus`` scenario (the memory stream, then the bus).
    :param lone_calls: sequential ``log_trade_execution`` calls of ``lone-call``.
    :param lone_pause: the pause between two of them (seconds): the node is idle.
    :param overload_buffer: the writer's ``max_buffer`` in the ``overload`` scenario.
    :param naive_ticks: ticks for the naive scenario (one fsynced commit each).
    :param seconds: how long each process writes in shared-file and three-files.
    :param busy_timeout: the shared-file processes' busy timeout in seconds (short,
        as an application that cannot afford to stall sets it).
    :param latency_rates: the offered rates (ticks/s) of the latency scenario.
    :param latency_seconds: how long each offered rate is held.
    :param sweep: the (max_batch, max_delay) settings of the batch sweep.
    :param sweep_rate: the offered rate at which the sweep measures latency.
    :param reader_rate: the queries/s of the read-under-write reader (a dashboard or
        API polling the latest ticks); 0 asks as fast as one process can, which on a
        two-core machine measures the CPU it takes from ingest more than SQLite's
        readers and writer getting in each other's way.
    """

    quick: bool
    ticks: int
    symbols: int
    max_batch: int
    max_delay: float
    seed: int
    repeat: int
    naive_ticks: int
    seconds: float
    busy_timeout: float
    latency_rates: tuple[int, ...]
    latency_seconds: float
    sweep: tuple[tuple[int, float], ...]
    sweep_rate: int
    scenarios: tuple[str, ...]
    reader_rate: int = 1_000
    bus_pairs: int = 7
    lone_calls: int = 200
    lone_pause: float = 0.02
    overload_buffer: int = 100_000
    out: Path
    plot: bool = True
    keep: bool = False

    @classmethod
    def preset(cls, *, quick: bool, out: Path, **overrides: Any) -> BenchConfig:
        """The quick (under a minute) or full preset, with ``overrides`` applied."""
        if quick:
            config = cls(
                quick=True,
                ticks=20_000,
                symbols=24,
                max_batch=5_000,
                max_delay=0.05,
                seed=20_260_101,
                repeat=1,
                bus_pairs=2,
                lone_calls=20,
                overload_buffer=20_000,
                naive_ticks=300,
                seconds=2.0,
                busy_timeout=0.02,
                latency_rates=(10_000, 50_000, 100_000),
                latency_seconds=0.6,
                sweep=((500, 0.005), (5_000, 0.05), (20_000, 0.1)),
                sweep_rate=50_000,
                scenarios=SCENARIOS,
                out=out,
            )
        else:
            config = cls(
                quick=False,
                ticks=200_000,
                symbols=24,
                max_batch=5_000,
                max_delay=0.05,
                seed=20_260_101,
                repeat=5,
                naive_ticks=3_000,
                seconds=8.0,
                busy_timeout=0.02,
                latency_rates=(10_000, 50_000, 100_000),
                latency_seconds=4.0,
                sweep=((100, 0.002), (500, 0.005), (2_000, 0.02), (5_000, 0.05), (20_000, 0.1)),
                sweep_rate=50_000,
                scenarios=SCENARIOS,
                out=out,
            )
        return dataclasses.replace(config, **overrides)

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (recorded in the results file)."""
        return {
            "mode": "quick" if self.quick else "full",
            "ticks": self.ticks,
            "symbols": self.symbols,
            "max_batch": self.max_batch,
            "max_delay_ms": self.max_delay * 1000,
            "seed": self.seed,
            "repeat": self.repeat,
            "naive_ticks": self.naive_ticks,
            "seconds": self.seconds,
            "busy_timeout_ms": self.busy_timeout * 1000,
            "latency_rates": list(self.latency_rates),
            "latency_seconds": self.latency_seconds,
            "sweep": [
                {"max_batch": batch, "max_delay_ms": delay * 1000} for batch, delay in self.sweep
            ],
            "sweep_rate": self.sweep_rate,
            "reader_rate": self.reader_rate,
            "bus_pairs": self.bus_pairs,
            "lone_calls": self.lone_calls,
            "lone_pause_ms": self.lone_pause * 1000,
            "overload_buffer": self.overload_buffer,
            "scenarios": list(self.scenarios),
        }
