"""What is in a data directory: rows per table, file sizes, time spans (read-only)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from writers import reader_uri

from ._exceptions import TradebusError
from ._topology import Topology

__all__ = ["DatabaseSummary", "TableSummary", "check_data_dir", "count_rows", "summarize"]


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


def check_data_dir(data_dir: Path, *, must_exist: bool) -> None:
    """Refuse a ``--data-dir`` that is a file (or, with ``must_exist``, is missing).

    :raises TradebusError: naming the path and what to give instead.
    """
    if data_dir.is_symlink() and not data_dir.exists():
        raise TradebusError(
            f"--data-dir {data_dir} is a symbolic link to {data_dir.readlink()}, which does "
            "not exist: give the directory that holds (or is to hold) the databases"
        )
    if data_dir.exists() and not data_dir.is_dir():
        raise TradebusError(
            f"--data-dir {data_dir} is not a directory: give the directory that holds "
            "(or is to hold) the databases"
        )
    if must_exist and not data_dir.exists():
        raise TradebusError(
            f"no data directory at {data_dir}: 'tradebus init --data-dir {data_dir}' "
            "creates it and its databases"
        )


def summarize(data_dir: Path, topology: Topology | None = None) -> list[DatabaseSummary]:
    """Summarize every database of ``data_dir`` without writing anything.

    :raises TradebusError: if the directory is missing or holds no tradebus database.
    """
    topology = topology or Topology.default()
    check_data_dir(data_dir, must_exist=True)
    summaries = [
        _summarize(spec.name, data_dir / spec.filename, spec.tables) for spec in topology.databases
    ]
    if not any(s.exists for s in summaries):
        names = ", ".join(spec.filename for spec in topology.databases)
        raise TradebusError(
            f"no tradebus database in {data_dir} yet (none of {names}): "
            f"'tradebus init --data-dir {data_dir}' creates them"
        )
    return summaries


def count_rows(data_dir: Path, topology: Topology | None = None) -> dict[str, dict[str, int]]:
    """Rows per table of every database of ``data_dir``, as committed now (read-only).

    A database whose file does not exist yet counts no rows.
    """
    topology = topology or Topology.default()
    counts: dict[str, dict[str, int]] = {}
    for spec in topology.databases:
        path = data_dir / spec.filename
        counts[spec.name] = dict.fromkeys(spec.tables, 0)
        if not path.exists():
            continue
        conn = _connect(path)
        try:
            present = _tables(conn, path)
            with _reading(path):
                for table in spec.tables:
                    if table in present:
                        (counts[spec.name][table],) = conn.execute(
                            f'SELECT count(*) FROM "{table}"'
                        ).fetchone()
        finally:
            conn.close()
    return counts


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(reader_uri(path), uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise TradebusError(f"cannot open {path}: {exc}") from exc


def _tables(conn: sqlite3.Connection, path: Path) -> set[str]:
    with _reading(path):
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn SQLite's errors into one-line TradebusErrors that name the file."""
    try:
        yield
    except sqlite3.OperationalError as exc:  # locked, unreadable, ...
        raise TradebusError(
            f"cannot read {path}: {exc}; if another program holds it locked, try again "
            "once it lets go"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise TradebusError(f"{path} is not a SQLite database: {exc}") from exc


def _summarize(name: str, path: Path, tables: tuple[str, ...]) -> DatabaseSummary:
    if not path.exists():
        return DatabaseSummary(name, path, False, 0, 0, 0, ())
    wal = path.with_name(path.name + "-wal")
    conn = _connect(path)
    try:
        present = _tables(conn, path)
        with _reading(path):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
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
