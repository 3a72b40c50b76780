"""The errors of ``writers``.

Exception tree (under tradebus's root, ``TradebusError``)::

    TradebusError
    └── WriterError              a writer cannot open, migrate or write its database
        ├── WriterLockError      another writer (this or another process) holds the file
        ├── SchemaVersionError   the file's schema is newer than this tradebus knows
        └── InvalidOption        a writer's option is not allowed (also a ValueError)
"""

from __future__ import annotations

import pickle

from tradebus_errors import TradebusError

__all__ = ["InvalidOption", "SchemaVersionError", "WriterError", "WriterLockError", "error_text"]


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


class InvalidOption(WriterError, ValueError):
    """A writer's option (``max_batch``, ``max_delay``, ...) is not allowed: the writer
    is not made. ``option``, ``value`` and ``allowed`` say which, what and why."""

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option = option
        self.value = value
        self.allowed = allowed
        super().__init__(f"{option} must be {allowed}, got {value!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.option, picklable(self.value), self.allowed))


def picklable(value: object) -> object:
    """``value``, or its repr when it cannot be pickled (an error crosses processes
    whole even when the value it names cannot)."""
    try:
        pickle.dumps(value)
    except Exception:
        return repr(value)
    return value


def error_text(error: BaseException) -> str:
    """``Type: message`` for a log line or an error's text, or what an error without a
    message means (a timeout's)."""
    text = str(error)
    if text:
        return f"{type(error).__name__}: {text}"
    if isinstance(error, TimeoutError):
        return f"{type(error).__name__}: no answer in time"
    return f"{type(error).__name__} (no message)"
