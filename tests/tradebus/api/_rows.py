"""Rows of a data directory's databases, read the way a user would: sqlite3, read-only,
polled with a deadline where they arrive after the answer."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

__all__ = ["rows", "wait_rows"]


def rows(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects in ``database`` (none if the file does not exist yet)."""
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:  # the table is not created yet
            if "no such table" in str(exc):
                return []
            raise


async def wait_rows(
    database: Path,
    sql: str,
    params: tuple[Any, ...] = (),
    *,
    until: Callable[[list[tuple[Any, ...]]], bool] = bool,
    deadline: float = 60,
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` once ``until`` holds for them; fail past the deadline
    showing the last rows read (``deadline``: seconds)."""
    found: list[tuple[Any, ...]] = []
    try:
        with anyio.fail_after(deadline):
            while True:
                found = rows(database, sql, params)
                if until(found):
                    return found
                await anyio.sleep(0.05)
    except TimeoutError as exc:
        raise AssertionError(
            f"{sql} {params} in {database.name}: never as expected: {found}"
        ) from exc
