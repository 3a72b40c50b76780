"""Create or migrate a database without running a writer."""

from __future__ import annotations

import os

import anyio
import anyio.to_thread

from ._lock import WriterLock
from ._specs import DatabaseSpec
from ._sqlite import migrate, open_write_connection

__all__ = ["create_database"]


async def create_database(
    spec: DatabaseSpec, path: str | os.PathLike[str], *, role: str = ""
) -> tuple[int, int]:
    """Create ``path`` (or migrate it) to ``spec``'s schema; return (found, now) versions.

    Takes the writer lock for the duration, so it never races a running writer.

    :raises WriterLockError: if a writer holds the database.
    :raises SchemaVersionError: if the file's schema is newer than ``spec``'s.
    """
    found = await anyio.to_thread.run_sync(_create, spec, os.fspath(path), role)
    return found, spec.schema_version


def _create(spec: DatabaseSpec, path: str, role: str) -> int:
    lock = WriterLock(path, role)
    lock.acquire()
    try:
        conn = open_write_connection(path, synchronous="NORMAL", busy_timeout=5)
        try:
            return migrate(conn, spec, path)
        finally:
            conn.close()
    finally:
        lock.release()
