"""The errors of ``writers``.

Exception tree (under tradebus's root, ``TradebusError``)::

    TradebusError
    └── WriterError              a writer cannot open, migrate or write its database
        ├── WriterLockError      another writer (this or another process) holds the file
        └── SchemaVersionError   the file's schema is newer than this tradebus knows
"""

from __future__ import annotations

from tradebus_errors import TradebusError

__all__ = ["SchemaVersionError", "WriterError", "WriterLockError"]


class WriterError(TradebusError):
    """Base class of every error a writer raises."""


class WriterLockError(WriterError):
    """The database already has a writer: there is exactly one writer per file.

    ``pid`` is the holder's pid as this process sees it (None when it cannot see the
    holder, for example in another PID namespace); ``role`` is the role the holder
    recorded, when it agrees with what the system says. The message says plainly what
    is known and what is not.
    """

    def __init__(
        self, path: str, pid: int | None, role: str | None, holder: str | None = None
    ) -> None:
        self.path = path
        self.pid = pid
        self.role = role
        if holder is None:
            holder = f"pid {pid}" if pid is not None else "a process that has not said who it is"
            if role:
                holder += f" (role {role!r})"
        #: Who holds the lock, as truthfully as this process can tell.
        self.holder = holder
        super().__init__(
            f"{path} already has a writer: {holder} holds its lock; stop that writer, "
            "or read the database read-only"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its arguments, so that it crosses processes whole.
        return (type(self), (self.path, self.pid, self.role, self.holder))


class SchemaVersionError(WriterError):
    """The database file was written by a newer tradebus (its ``user_version`` is higher)."""
