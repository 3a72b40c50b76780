"""Helpers of the PostgreSQL store's tests: DSNs and plain reads."""

from __future__ import annotations

import urllib.parse
from typing import Any

import asyncpg


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
