"""A PostgreSQL writer's session: its connection, the advisory lock that makes it
the database's only writer, and the schema migrations.

The lock is a session-level advisory lock keyed on the database's name: held as
long as the connection lives (a writer that dies, or whose server restarts, loses
it with its connection), so a second writer of the same database is refused while
the first runs, whatever machine it runs on.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import asyncpg

from ._exceptions import SchemaVersionError, WriterError, WriterLockError
from ._pg_rules import SCHEMA_TABLE
from ._pg_specs import PgSpec
from ._specs import DatabaseSpec

__all__ = ["check_dsn", "connect", "lock_holder", "lock_refusal", "migrate", "redact", "take_lock"]

#: The first key of the writer's advisory lock (the second is the database's name).
_LOCK_CLASS = "tradebus writer"
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext($1), hashtext(current_database()))"
_HOLDER = """SELECT a.pid, a.application_name, host(a.client_addr)
    FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = (hashtext($1)::bigint & 4294967295)::oid
      AND l.objid = (hashtext(current_database())::bigint & 4294967295)::oid
    LIMIT 1"""


def check_dsn(dsn: object, field: str = "dsn") -> str:
    """``dsn`` if it is a PostgreSQL connection URL naming a database.

    :raises ValueError: naming ``field``, the value and what is allowed.
    """
    allowed = "a PostgreSQL URL naming its database, like postgresql://user@host:5432/name"
    if not isinstance(dsn, str):
        raise ValueError(f"{field} must be {allowed}, got {dsn!r}")
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise ValueError(f"{field} must be {allowed}, got {redact(dsn)!r}")
    return dsn


def redact(dsn: str) -> str:
    """``dsn`` without its password (for messages and logs)."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


async def connect(dsn: str, spec: DatabaseSpec, timeout: float) -> asyncpg.Connection[Any]:  # noqa: ASYNC109 - a connect timeout
    """A connection named after the writer (seen in ``pg_stat_activity``)."""
    return await asyncpg.connect(
        dsn,
        timeout=timeout,
        server_settings={"application_name": f"tradebus writer {spec.name}"},
    )


async def take_lock(
    conn: asyncpg.Connection[Any],
    target: str,
    timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's statement timeout
) -> bool:
    """Take the writer's lock of the database for this session; False if another
    session holds it."""
    return bool(await conn.fetchval(_TRY_LOCK, _LOCK_CLASS, timeout=timeout))


async def lock_holder(
    conn: asyncpg.Connection[Any],
    timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's statement timeout
) -> int | None:
    """The server pid of the session holding the writer's lock (None: none)."""
    row = await conn.fetchrow(_HOLDER, _LOCK_CLASS, timeout=timeout)
    return None if row is None else int(row[0])


async def lock_refusal(conn: asyncpg.Connection[Any], target: str) -> WriterLockError:
    """The error that says who holds the lock."""
    row = await conn.fetchrow(_HOLDER, _LOCK_CLASS)
    if row is None:
        holder = "another session (gone by now: try again)"
        pid = None
    else:
        pid = int(row[0])
        holder = f"the PostgreSQL session of server pid {pid} ({row[1] or 'no application name'}"
        holder += f", from {row[2]})" if row[2] else ", over a local socket)"
    return WriterLockError(target, pid, None, holder)


async def migrate(
    conn: asyncpg.Connection[Any], spec: DatabaseSpec, pg: PgSpec, target: str
) -> int:
    """Bring the database's schema up to date (each migration in a transaction of its
    own); return the version it was at.

    :raises SchemaVersionError: if a newer tradebus made it.
    :raises WriterError: if it holds another database's schema.
    """
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ("
        "database TEXT NOT NULL, version BIGINT NOT NULL)"
    )
    row = await conn.fetchrow(f"SELECT database, version FROM {SCHEMA_TABLE}")
    if row is None:
        await conn.execute(
            f"INSERT INTO {SCHEMA_TABLE} (database, version) VALUES ($1, 0)", spec.name
        )
        found = 0
    else:
        if row[0] != spec.name:
            raise WriterError(
                f"{target} holds the {row[0]!r} database's tables, not {spec.name!r}'s: "
                "give each tradebus database a PostgreSQL database of its own"
            )
        found = int(row[1])
    latest = len(pg.migrations)
    if found > latest:
        raise SchemaVersionError(
            f"{target} has schema version {found}, newer than this tradebus knows "
            f"({latest}): upgrade tradebus to write it"
        )
    for version in range(found + 1, latest + 1):
        async with conn.transaction():
            script = pg.migrations[version - 1]
            if script.strip():
                await conn.execute(script)
            await conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = $1", version)
    return found
