"""What every scenario is handed: the parameters, the ticks, a place for files, progress."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

from schemas import Tick

from ._config import BenchConfig
from ._results import ScenarioResult
from ._ticks import TickRow

__all__ = ["Context"]


def _ignore(text: str) -> None:
    pass


@dataclasses.dataclass(kw_only=True)
class Context:
    """The shared state of one run."""

    config: BenchConfig
    workdir: Path
    #: The run's ticks, pre-built once (every scenario publishes or inserts these).
    ticks: list[Tick]
    #: The same ticks as ``unified_ticks`` rows, pre-built for the plain-sqlite3 baselines.
    rows: list[TickRow]
    #: The results of the scenarios that already ran (read-under-write compares itself
    #: with tradebus).
    results: dict[str, ScenarioResult] = dataclasses.field(default_factory=dict)
    #: Shows what the running scenario is doing now.
    status: Callable[[str], None] = _ignore
    _counter: itertools.count[int] = dataclasses.field(default_factory=itertools.count)

    def db_path(self, name: str) -> Path:
        """A fresh database path in the work directory (``name`` keeps it readable)."""
        folder = self.workdir / f"{next(self._counter):03d}-{name}"
        folder.mkdir(parents=True)
        return folder / "unified_tick_pipeline.db"

    def fresh_dir(self, name: str) -> Path:
        """A fresh, empty directory in the work directory."""
        folder = self.workdir / f"{next(self._counter):03d}-{name}"
        folder.mkdir(parents=True)
        return folder
