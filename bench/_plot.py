"""The PNG plot of a run, when matplotlib is installed (the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._results import Line, ScenarioResult

__all__ = ["write_plot"]


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
