"""Helpers of the PostgreSQL store's tests: a database of each test's own (the
``pg_database`` fixture: import it into a test module), DSNs and plain reads."""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest


def database_dsn(dsn: str, name: str) -> str:
    """``dsn`` with another database name."""
    return urllib.parse.urlsplit(dsn)._replace(path=f"/{name}").geturl()


async def pg_rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read with a fresh connection (what users do)."""
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql, *params)]
    finally:
        await conn.close()


async def pg_count(dsn: str, table: str) -> int:
    [(n,)] = await pg_rows(dsn, f"SELECT count(*) FROM {table}")
    return int(n)


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
