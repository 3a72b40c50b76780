"""A stand-in reader for a database whose file does not exist yet (its owner runs
elsewhere and has not started): the same schema, no rows, read-only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite

from writers import DatabaseSpec

__all__ = ["empty_database"]


@asynccontextmanager
async def empty_database(spec: DatabaseSpec) -> AsyncIterator[aiosqlite.Connection]:
    """An in-memory database with ``spec``'s schema and nothing in it: what a reader
    of a file its owner has not made yet sees (nothing was committed there)."""
    async with aiosqlite.connect(":memory:") as conn:
        for script in spec.migrations:
            await conn.executescript(script)
        await conn.execute("PRAGMA query_only=ON")
        yield conn
