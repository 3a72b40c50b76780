"""Interleaved pairs: a reference run, then the measured run, repeated; their ratios.

The median of the pairs' ratios resists a machine whose speed drifts during the run
better than the ratio of two best runs does. A pair is *disturbed* when either of
its runs was (see :mod:`bench._sched`); the median of the undisturbed pairs is
reported too.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from ._sched import Disturbance

__all__ = ["Pair", "pairs_note", "summarize_pairs"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pair:
    """One pair: ``ratio`` is how many times faster (or cheaper) the measured run was."""

    ratio: float
    reference: Disturbance
    measured: Disturbance

    @property
    def disturbed(self) -> bool:
        return self.reference.disturbed or self.measured.disturbed

    def to_json(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "disturbed": self.disturbed,
            "reference": self.reference.to_json(),
            "measured": self.measured.to_json(),
        }


def summarize_pairs(pairs: list[Pair]) -> dict[str, Any]:
    """The median ratio of every pair and of the undisturbed ones, and each pair."""
    calm = [pair.ratio for pair in pairs if not pair.disturbed]
    return {
        "ratio": statistics.median(pair.ratio for pair in pairs) if pairs else None,
        "ratio_undisturbed": statistics.median(calm) if calm else None,
        "pairs_undisturbed": len(calm),
        "ratios": [pair.ratio for pair in pairs],
        "pairs": [pair.to_json() for pair in pairs],
    }


def pairs_note(summary: dict[str, Any]) -> str:
    """``1.12x (undisturbed 3/5: 1.15x)`` for the table's notes."""
    ratio = summary["ratio"]
    if ratio is None:
        return "no pairs"
    calm = summary["ratio_undisturbed"]
    count = len(summary["ratios"])
    calm_text = "none" if calm is None else f"{calm:.2f}x"
    return f"{ratio:.2f}x (undisturbed {summary['pairs_undisturbed']}/{count}: {calm_text})"
