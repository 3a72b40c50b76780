"""The PNG plot of a run, when matplotlib is installed (the ``plot`` extra)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ._results import Line, ScenarioResult

__all__ = ["latency_ticks", "write_plot"]


def latency_ticks(low_ms: float, high_ms: float) -> list[float]:
    """Tick positions for a log axis over ``low_ms``..``high_ms``: 1-2-5 per decade
    (1-1.5-2-3-4-5-6-8 over a narrow range), so that a few plain labels never overlap.

    Matplotlib's own log ticks label the minor ticks of a range under a decade or two
    (``3x10^0 4x10^0 ...``), and those labels run into each other.
    """
    low = max(low_ms, 1e-3)
    high = max(high_ms, low)

    def inside(steps: tuple[float, ...]) -> list[float]:
        ticks: list[float] = []
        decade = 10.0 ** math.floor(math.log10(low))
        while decade <= high:
            ticks.extend(s * decade for s in steps if low <= s * decade <= high)
            decade *= 10
        return ticks

    ticks = inside((1, 2, 5))
    return ticks if len(ticks) >= 3 else inside((1, 1.5, 2, 3, 4, 5, 6, 8))


def write_plot(
    path: Path,
    lines: list[Line],
    results: Mapping[str, ScenarioResult],
    title: str,
    max_delay_ms: float = 0.0,
) -> Path | None:
    """Draw throughput per scenario and the latency distributions; None without matplotlib."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    from matplotlib import ticker  # type: ignore[import-not-found, unused-ignore]

    rated = [line for line in lines if line.rate is not None and line.unit != "queries/s"]
    samples = {
        label: values
        for result in results.values()
        for label, values in result.latencies_ms.items()
        if values
    }
    panels = 2 if samples else 1
    figure, axes = plt.subplots(1, panels, figsize=(7 * panels, 0.45 * len(rated) + 2.5))
    bars = axes[0] if panels == 2 else axes
    labels = [f"{line.scenario}: {line.label}" for line in rated]
    values = [line.rate or 0.0 for line in rated]
    colors = ["tab:gray" if line.scenario in ("ceiling", "naive") else "tab:blue" for line in rated]
    bars.barh(range(len(rated)), values, color=colors)
    bars.set_yticks(range(len(rated)), labels, fontsize=7)
    bars.invert_yaxis()
    bars.set_xscale("log")
    if values:  # room on the right for the figures written after each bar
        bars.set_xlim(min(v for v in values if v > 0) / 2, max(values) * 12)
    bars.set_xlabel("per second (ticks, rows or messages; log scale)")
    bars.set_title("throughput")
    for i, line in enumerate(rated):
        ratio = "" if line.to_ceiling is None else f"  {line.to_ceiling:.2g}x ceiling"
        bars.text(line.rate or 0.0, i, f" {line.rate:,.0f} {line.unit}{ratio}", va="center",
                  fontsize=6)  # fmt: skip
    if panels == 2:
        curves = axes[1]
        for label, values_ms in samples.items():
            ordered = sorted(values_ms)
            n = len(ordered)
            step = max(1, n // 2_000)  # a few thousand points draw the same curve
            picks = [*range(0, n, step), n - 1]
            curves.plot([ordered[i] for i in picks], [(i + 1) / n for i in picks], label=label)
        if max_delay_ms:
            curves.axvline(max_delay_ms, color="gray", linestyle="--", linewidth=1)
            curves.text(max_delay_ms, 0.02, " max_delay", fontsize=7, color="gray")
        curves.set_xscale("log")
        low = min(min(v) for v in samples.values())
        high = max(max(v) for v in samples.values())
        curves.xaxis.set_major_locator(ticker.FixedLocator(latency_ticks(low, high)))
        curves.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _pos: f"{x:g}"))
        curves.xaxis.set_minor_formatter(ticker.NullFormatter())
        curves.set_xlabel("publish-to-commit latency (ms, log scale)")
        curves.set_ylabel("fraction of ticks")
        curves.set_title("latency distribution")
        curves.grid(True, which="both", alpha=0.3)
        curves.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
