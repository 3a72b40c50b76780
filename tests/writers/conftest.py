"""Fixtures of the writer tests: a PostgreSQL database of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.writers._pg import database_dsn

#: Makes a new, empty PostgreSQL database; returns its DSN.
NewDatabase = Callable[[], Awaitable[str]]


@pytest.fixture
async def pg_database(pg_dsn: str) -> AsyncIterator[NewDatabase]:
    """Makes empty PostgreSQL databases (on the session's server) for one test, each
    with a name of its own; drops them afterwards."""
    made: list[str] = []

    async def new() -> str:
        name = f"tb_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return database_dsn(pg_dsn, name)

    yield new
    if made:
        conn = await asyncpg.connect(pg_dsn)
        try:
            for name in made:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
