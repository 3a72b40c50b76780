"""The SQL of a prune: bounded deletes in key order, and what a dry run counts.

Every search is a range of an index (or of the clustered key): the rows of a
partition (a symbol of ``unified_ticks``, a component of ``system_health``...) older
than the bound are the first rows of its range, so a chunk reads only what it
deletes, however large the table. Partitions are walked one value at a time (the
next value after the last is one index search), never by scanning the table.

Deleting rows fires no trigger (the schema's triggers guard inserts only) and
cascades nowhere: a candle stays when the ticks it was made of go.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from typing import Final, NamedTuple

from ._exceptions import WriterError
from ._reader import reader_uri
from ._retention import HISTORIES, TARGETS, History, Retention, Target
from ._specs import DatabaseSpec

__all__ = [
    "START",
    "Counted",
    "Prunable",
    "Step",
    "count_history",
    "count_prunable",
    "history_step",
    "prunable",
    "prune_step",
]

#: Where a pass over a table starts (a ``Step.at`` of ``None`` means it is done).
START: Final[tuple[object, ...]] = ()
#: The most partitions one step visits (each one or two index searches).
_PARTITIONS_PER_STEP: Final = 256
#: A history step takes ``chunk`` / this many items (a position and its updates).
_ROWS_PER_ITEM: Final = 20


class Step(NamedTuple):
    """What one prune transaction did: rows deleted, and where the next goes on
    (``None``: no row older than the bound is left in the table)."""

    deleted: int
    at: tuple[object, ...] | None


class Counted(NamedTuple):
    """What a prune of one table would delete: how many rows, and the oldest's time."""

    rows: int
    oldest: int | None


def _columns(columns: tuple[str, ...]) -> str:
    return columns[0] if len(columns) == 1 else f"({', '.join(columns)})"


def _in_partition(target: Target) -> str:
    """The WHERE clause of the rows of a partition (parameters: its values, then the
    bound)."""
    equal = [f"{c} = ?" for c in target.partition]
    return " AND ".join([*equal, f"{target.time} < ?"])


def _delete_sql(target: Target) -> str:
    key = _columns(target.key)
    return (
        f"DELETE FROM {target.table} WHERE {key} IN (SELECT {', '.join(target.key)} "
        f"FROM {target.table} WHERE {_in_partition(target)} ORDER BY {target.time} LIMIT ?)"
    )


def _next_partition(
    conn: sqlite3.Connection, target: Target, after: tuple[object, ...]
) -> tuple[object, ...] | None:
    """The partition after ``after`` (the first with ``START``), or ``None``."""
    columns = ", ".join(target.partition)
    where = ""
    if after:
        where = f"WHERE {_columns(target.partition)} > ({', '.join('?' * len(after))}) "
    row = conn.execute(
        f"SELECT {columns} FROM {target.table} {where}ORDER BY {columns} LIMIT 1", after
    ).fetchone()
    return None if row is None else tuple(row)


def _delete(
    conn: sqlite3.Connection, target: Target, bound: int, chunk: int, at: tuple[object, ...]
) -> Step:
    sql = _delete_sql(target)
    if not target.partition:
        deleted = conn.execute(sql, (bound, chunk)).rowcount
        return Step(deleted, at if deleted == chunk else None)
    partition: tuple[object, ...] | None = at or _next_partition(conn, target, START)
    deleted = 0
    for _ in range(_PARTITIONS_PER_STEP):
        if partition is None:
            return Step(deleted, None)
        wanted = chunk - deleted
        deleted += conn.execute(sql, (*partition, bound, wanted)).rowcount
        if deleted == chunk:
            return Step(deleted, partition)  # perhaps more there: go on from it
        partition = _next_partition(conn, target, partition)
    return Step(deleted, partition)


def prune_step(
    conn: sqlite3.Connection, target: Target, bound: int, chunk: int, at: tuple[object, ...]
) -> Step:
    """Delete at most ``chunk`` rows of ``target`` whose event time is before ``bound``
    (ns), oldest first per partition, from partition ``at`` on (``START``), in one
    transaction of their own on the writer's connection ``conn``.

    A step killed midway deletes nothing (its transaction rolls back); one that
    committed is done: a later pass finds only what is left.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        step = _delete(conn, target, bound, chunk, at)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return step


def count_prunable(conn: sqlite3.Connection, target: Target, bound: int) -> Counted:
    """How many rows of ``target`` a prune with ``bound`` would delete (read-only)."""
    sql = f"SELECT count(*), min({target.time}) FROM {target.table} WHERE {_in_partition(target)}"
    if not target.partition:
        n, oldest = conn.execute(sql, (bound,)).fetchone()
        return Counted(int(n), oldest)
    rows, first = 0, None
    partition = _next_partition(conn, target, START)
    while partition is not None:
        n, oldest = conn.execute(sql, (*partition, bound)).fetchone()
        rows += int(n)
        if oldest is not None and (first is None or oldest < first):
            first = int(oldest)
        partition = _next_partition(conn, target, partition)
    return Counted(rows, first)


def _ended(history: History) -> str:
    return (
        f"SELECT {history.key} FROM {history.parent} WHERE {history.ended} AND {history.time} < ?"
    )


def history_step(
    conn: sqlite3.Connection, history: History, bound: int, chunk: int
) -> tuple[dict[str, int], bool]:
    """Delete the oldest finished items of ``history`` (at most ``chunk`` / 20: a
    position with its execution and updates...) that ended before ``bound``, each
    whole, in one transaction; return the rows deleted per table, and whether more
    may be left.
    """
    items = max(1, chunk // _ROWS_PER_ITEM)
    conn.execute("BEGIN IMMEDIATE")
    try:
        keys = [(k,) for (k,) in conn.execute(f"{_ended(history)} LIMIT ?", (bound, items))]
        deleted = {}
        for table in history.tables:  # the children first, the parent last
            sql = f"DELETE FROM {table} WHERE {history.key} = ?"
            deleted[table] = sum(conn.execute(sql, key).rowcount for key in keys)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return deleted, len(keys) == items


def count_history(conn: sqlite3.Connection, history: History, bound: int) -> dict[str, Counted]:
    """Per table of ``history``: what a prune with ``bound`` would delete (read-only)."""
    n, oldest = conn.execute(
        f"SELECT count(*), min({history.time}) FROM {history.parent} "
        f"WHERE {history.ended} AND {history.time} < ?",
        (bound,),
    ).fetchone()
    counted = {}
    for child in history.children:
        sql = f"SELECT count(*) FROM {child} WHERE {history.key} IN ({_ended(history)})"
        (rows,) = conn.execute(sql, (bound,)).fetchone()
        counted[child] = Counted(int(rows), None)
    counted[history.parent] = Counted(int(n), oldest)
    return counted


class Prunable(NamedTuple):
    """What a prune of one table would delete now (see :func:`prunable`)."""

    table: str
    #: The event time (ns) below which rows would go.
    bound: int
    rows: int
    #: The event time of the oldest of them, if any.
    oldest: int | None


def prunable(
    path: str | os.PathLike[str], spec: DatabaseSpec, retention: Retention, now: int
) -> list[Prunable]:
    """Per table of ``spec``'s database at ``path`` that ``retention`` prunes: how many
    rows a prune at wall clock ``now`` (ns) would delete. Read-only (safe while the
    writer runs; it changes nothing, takes no lock).

    :raises WriterError: if the file cannot be read.
    """
    bounds = retention.bounds(spec.tables, now)
    if not bounds:
        return []
    try:
        with closing(sqlite3.connect(reader_uri(path), uri=True)) as conn:
            conn.execute("PRAGMA query_only = 1")
            conn.execute("BEGIN")  # one snapshot for every table
            counted = [
                Prunable(t.table, bounds[t.table], *count_prunable(conn, t, bounds[t.table]))
                for t in TARGETS
                if t.table in bounds
            ]
            for h in HISTORIES:
                if h.parent in bounds:
                    for table, c in count_history(conn, h, bounds[h.parent]).items():
                        counted.append(Prunable(table, bounds[h.parent], *c))
            conn.rollback()
    except sqlite3.Error as exc:
        raise WriterError(f"cannot read {path} to count what a prune would delete: {exc}") from exc
    return counted
