"""The tick-throughput benchmark harness of tradebus.

Run ``python -m bench`` (or ``tradebus bench``): every scenario runs on the same
seeded ticks, and the figures are printed, and written to JSON, as ratios to plain
sqlite3 (``ceiling``) and to a commit per tick (``naive``). See ``bench/README.md``.
"""

from __future__ import annotations

from ._cli import main as main
from ._config import SCENARIOS as SCENARIOS
from ._config import BenchConfig as BenchConfig

__all__ = ["SCENARIOS", "BenchConfig", "main"]
