"""Plain-sqlite3 plumbing of the baselines: the same schema and pragmas as the writers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

from writers import SPECS, DatabaseSpec

__all__ = [
    "LATEST_TICKS",
    "TICK_INSERT",
    "connect",
    "create_database",
    "create_shared_database",
]

#: The row-at-a-time tick insert of the baselines (the writer's rows, the same columns).
TICK_INSERT: Final = (
    "INSERT INTO unified_ticks (symbol, ts, seq, bid, ask, last, volume, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

#: What the reader process of read-under-write asks, over and over.
LATEST_TICKS: Final = (
    "SELECT symbol, ts, seq, bid, ask, last, volume FROM unified_ticks "
    "WHERE symbol = ? ORDER BY ts DESC LIMIT 10"
)

Journal = Literal["wal", "delete"]


def connect(
    path: str | Path, *, journal: Journal = "wal", timeout: float = 5.0
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with the pragmas the writers use.

    ``journal="wal"`` means WAL with ``synchronous=NORMAL`` (what a writer sets);
    ``"delete"`` is SQLite's default rollback journal with its default ``FULL``.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    if journal == "wal":
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"{path}: could not switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
    else:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def _migrate(conn: sqlite3.Connection, spec: DatabaseSpec) -> None:
    for version, script in enumerate(spec.migrations, 1):
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")


def create_database(path: str | Path, spec: DatabaseSpec, *, journal: Journal = "wal") -> None:
    """Create ``path`` with ``spec``'s migrations (tables, indexes), as its writer would."""
    conn = connect(path, journal=journal)
    try:
        _migrate(conn, spec)
    finally:
        conn.close()


def create_shared_database(path: str | Path, specs: Iterable[DatabaseSpec] = SPECS) -> None:
    """Create one file holding every table of ``specs``: the single shared database of old.

    Each spec is migrated in memory and its schema objects copied over; objects that
    several specs share (``dead_letters``, ``writer_state``, ``outbox``) are created
    once, and SQLite's own (``sqlite_sequence``) by SQLite.
    """
    conn = connect(path)
    try:
        existing = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        for spec in specs:
            scratch = sqlite3.connect(":memory:", isolation_level=None)
            try:
                _migrate(scratch, spec)
                objects = scratch.execute(
                    "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
                ).fetchall()
            finally:
                scratch.close()
            conn.execute("BEGIN IMMEDIATE")
            for name, sql in objects:
                if name not in existing:
                    conn.execute(sql)
                    existing.add(name)
            conn.execute("COMMIT")
    finally:
        conn.close()
