"""Read-only access to a database while its writer runs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import aiosqlite
import anyio

from ._exceptions import WriterError

__all__ = ["open_reader", "reader_uri"]


def reader_uri(path: str | os.PathLike[str]) -> str:
    """The ``file:`` URI that opens ``path`` read-only."""
    absolute = Path(path).absolute().as_posix()
    return f"file:{quote(absolute)}?mode=ro"


@asynccontextmanager
async def open_reader(
    path: str | os.PathLike[str], *, busy_timeout: float = 5.0
) -> AsyncIterator[aiosqlite.Connection]:
    """Open ``path`` read-only (``mode=ro`` and ``query_only``): any write through it fails.

    It sees what the writer has committed, and works where the reading process cannot
    write the directory, as long as the database's WAL files exist.

    :raises WriterError: if the file does not exist or cannot be opened.
    """
    if not await anyio.Path(path).exists():
        raise WriterError(f"{path} does not exist: run 'tradebus init' or start its writer")
    try:
        conn = await aiosqlite.connect(reader_uri(path), uri=True, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise WriterError(f"cannot open {path} read-only: {exc}") from exc
    try:
        await conn.execute("PRAGMA query_only=ON")
        yield conn
    finally:
        await conn.close()
