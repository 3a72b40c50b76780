"""What is in a data directory: rows per table, file sizes, time spans (read-only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple

from writers import reader_uri

from ._exceptions import TradebusError
from ._topology import Topology

__all__ = ["DatabaseSummary", "TableSummary", "summarize"]


class TableSummary(NamedTuple):
    table: str
    rows: int
    first_ts: int | None
    last_ts: int | None


class DatabaseSummary(NamedTuple):
    database: str
    path: Path
    exists: bool
    bytes: int
    wal_bytes: int
    schema_version: int
    tables: tuple[TableSummary, ...]


def summarize(data_dir: Path, topology: Topology | None = None) -> list[DatabaseSummary]:
    """Summarize every database of ``data_dir`` without writing anything.

    :raises TradebusError: if the directory is missing or holds no tradebus database.
    """
    topology = topology or Topology.default()
    if not data_dir.is_dir():
        raise TradebusError(f"no data directory at {data_dir}")
    summaries = [
        _summarize(spec.name, data_dir / spec.filename, spec.tables) for spec in topology.databases
    ]
    if not any(s.exists for s in summaries):
        names = ", ".join(spec.filename for spec in topology.databases)
        raise TradebusError(f"{data_dir} is not a tradebus data directory (none of {names})")
    return summaries


def _summarize(name: str, path: Path, tables: tuple[str, ...]) -> DatabaseSummary:
    if not path.exists():
        return DatabaseSummary(name, path, False, 0, 0, 0, ())
    wal = path.with_name(path.name + "-wal")
    uri = reader_uri(path)
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise TradebusError(f"cannot open {path}: {exc}") from exc
    try:
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            present = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise TradebusError(f"{path} is not a SQLite database: {exc}") from exc
        if version == 0 or not present & set(tables):
            raise TradebusError(f"{path} is not a tradebus {name!r} database")
        summaries = []
        for table in tables:
            if table not in present:
                continue
            count, first, last = conn.execute(
                f'SELECT count(*), min(ts), max(ts) FROM "{table}"'
            ).fetchone()
            summaries.append(TableSummary(table, count, first, last))
    finally:
        conn.close()
    return DatabaseSummary(
        name,
        path,
        True,
        path.stat().st_size,
        wal.stat().st_size if wal.exists() else 0,
        version,
        tuple(summaries),
    )
