"""The data directory a node works in, and what a node reports of itself."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from eventbus import BusStatistics
from writers import WriterStatistics

from ._exceptions import TradebusError
from ._relay_stats import RelayStatistics

__all__ = ["NodeStatistics", "ensure_data_dir"]


class NodeStatistics(NamedTuple):
    """The bus's, every hosted writer's and every relay's counters."""

    bus: BusStatistics
    writers: dict[str, WriterStatistics]
    #: Per relay, keyed ``"<source file> -> <database>"``.
    relays: dict[str, RelayStatistics]


def ensure_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` if it is missing.

    :raises TradebusError: if it is a file, or cannot be created.
    """
    if data_dir.exists() and not data_dir.is_dir():
        raise TradebusError(f"the data directory {data_dir} exists and is not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TradebusError(f"cannot create the data directory {data_dir}: {exc}") from exc
