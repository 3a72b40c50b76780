"""What scenarios report: table lines, JSON figures, latency samples, target checks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["Line", "ScenarioResult", "Target", "percentile", "summarize_ms"]


@dataclasses.dataclass(kw_only=True)
class Line:
    """One line of the terminal table.

    :param rate: what this line measured per second (ticks, rows, messages, queries).
    :param unit: what ``rate`` counts, e.g. ``ticks/s``.
    :param comparable: whether ``rate`` counts committed tick (or event) rows, so that
        its ratio to ``ceiling`` and ``naive`` means something.
    """

    scenario: str
    label: str
    rate: float | None
    unit: str
    comparable: bool = True
    note: str = ""
    to_ceiling: float | None = None
    to_naive: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(kw_only=True)
class ScenarioResult:
    """Everything one scenario measured."""

    name: str
    #: Every figure, JSON-ready: rates, counts, percentiles, the writer's statistics.
    figures: dict[str, Any]
    lines: list[Line]
    #: Latency samples in milliseconds per label, for the plot (not written to JSON).
    latencies_ms: dict[str, list[float]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class Target:
    """A performance target, checked against this run's figures."""

    name: str
    required: str
    measured: str
    passed: bool | None  # None: a scenario it needs did not run

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` (0-100) percentile of sorted ``ordered``, nearest rank; NaN if empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean of ``samples`` (already in milliseconds)."""
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "count": n,
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] if n else math.nan,
        "mean_ms": sum(ordered) / n if n else math.nan,
    }
