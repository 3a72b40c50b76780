"""The errors of ``writers``.

Exception tree::

    WriterError              a writer cannot open, migrate or write its database
    ├── WriterLockError      another writer (this or another process) holds the file
    └── SchemaVersionError   the file's schema is newer than this tradebus knows
"""

from __future__ import annotations

__all__ = ["SchemaVersionError", "WriterError", "WriterLockError"]


class WriterError(Exception):
    """Base class of every error a writer raises."""


class WriterLockError(WriterError):
    """The database already has a writer: there is exactly one writer per file.

    ``pid`` and ``role`` name the holder when it recorded them.
    """

    def __init__(self, path: str, pid: int | None, role: str | None) -> None:
        self.path = path
        self.pid = pid
        self.role = role
        holder = f"pid {pid}" if pid is not None else "an unknown process"
        if role:
            holder += f" (role {role!r})"
        super().__init__(
            f"{path} already has a writer: {holder} holds its lock; stop that writer, or "
            "open the database read-only with open_reader()"
        )


class SchemaVersionError(WriterError):
    """The database file was written by a newer tradebus (its ``user_version`` is higher)."""
