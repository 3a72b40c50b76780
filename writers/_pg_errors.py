"""What PostgreSQL (or asyncpg) raises, sorted: what the events hold (poison), what
passes (a lost connection, a server restarting: transient), and the rest."""

from __future__ import annotations

from typing import Any, Final

import asyncpg

__all__ = ["is_connection_lost", "is_transient", "poison_of"]

#: SQLSTATEs worth retrying as they are: the connection (08), the server shutting
#: down or starting (57P01-57P03), too many connections (53300), a serialization
#: failure or a deadlock (40001, 40P01), a lock not available (55P03).
_TRANSIENT_STATES: Final = frozenset(
    {"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"}
)


def _state(error: BaseException) -> str:
    return str(getattr(error, "sqlstate", "") or "")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` passes: a lost or refused connection, a server restarting."""
    if isinstance(error, OSError | TimeoutError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(error, asyncpg.ConnectionDoesNotExistError):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        return True  # a connection left in a state it cannot go on from: a new one
    if (
        isinstance(error, asyncpg.InterfaceError)
        and "connection" in str(error)
        and ("closed" in str(error) or "lost" in str(error))
    ):
        return True
    state = _state(error)
    return state.startswith("08") or state in _TRANSIENT_STATES


def is_connection_lost(error: BaseException, conn: asyncpg.Connection[Any]) -> bool:
    """Whether ``error`` ended the connection (a COMMIT's outcome is then unknown)."""
    return conn.is_closed() or (is_transient(error) and _state(error) not in ("40001", "40P01"))


def poison_of(error: BaseException) -> str | None:
    """Why ``error`` says the events cannot be stored (retrying will not help), as
    SQLite's store says it (``IntegrityError: ...``, ``DataError: ...``); None if it
    does not say so."""
    state = _state(error)
    if isinstance(error, asyncpg.PostgresError):
        if state.startswith("23"):
            return f"IntegrityError: {error}"
        if state.startswith("22"):
            return f"DataError: {error}"
        return None
    if isinstance(error, asyncpg.InterfaceError) and isinstance(error, ValueError):
        return f"DataError: {error}"  # a value asyncpg cannot send (out of range, ...)
    if isinstance(error, OverflowError | UnicodeEncodeError):
        return f"{type(error).__name__}: {error}"
    return None
