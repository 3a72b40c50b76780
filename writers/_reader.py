"""Read-only access to a database while its writer runs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import quote

import aiosqlite
import anyio

from ._exceptions import WriterError

__all__ = ["ReadOnlyConnection", "ReadOnlyCursor", "open_reader", "reader_uri"]


def reader_uri(path: str | os.PathLike[str]) -> str:
    """The ``file:`` URI that opens ``path`` read-only."""
    absolute = Path(path).absolute().as_posix()
    return f"file:{quote(absolute)}?mode=ro"


#: Statements a reader may prepare: reading, and transactions to read consistently.
_READING: Final = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
#: Pragmas that only read, whatever their argument (a table or index name, a limit).
_READING_PRAGMAS: Final = frozenset(
    {
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "quick_check",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
#: Pragmas a reader may read but not set.
_SETTINGS: Final = frozenset(
    {
        "application_id",
        "auto_vacuum",
        "busy_timeout",
        "cache_size",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "journal_mode",
        "journal_size_limit",
        "locking_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "query_only",
        "schema_version",
        "synchronous",
        "user_version",
        "wal_autocheckpoint",
    }
)
# load_extension loads code; fts3_tokenizer hands out (and takes) raw C pointers.
_DENIED_FUNCTIONS: Final = frozenset({"load_extension", "fts3_tokenizer"})


def _authorize(
    action: int, arg1: str | None, arg2: str | None, database: str | None, source: str | None
) -> int:
    """SQLite's authorizer of a reader: allow reads only, deny everything else."""
    if action in _READING:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        denied = (arg2 or "").lower() in _DENIED_FUNCTIONS
        return sqlite3.SQLITE_DENY if denied else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and database == "main":
        # A pragma table-valued function (pragma_table_info) reports this as it
        # prepares; SQLite refuses any real change of sqlite_master without
        # writable_schema, which a reader can never set.
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _READING_PRAGMAS or (name in _SETTINGS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class ReadOnlyCursor(sqlite3.Cursor):
    """A cursor of a :class:`ReadOnlyConnection`: a refused statement raises
    ``sqlite3.OperationalError`` saying the connection is read-only."""

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        with _refusals():
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        with _refusals():
            super().executemany(sql, seq_of_parameters)
        return self

    def executescript(self, sql_script: str, /) -> Self:
        with _refusals():
            super().executescript(sql_script)
        return self


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        refused = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_AUTH
        if not refused and "not authorized" not in str(exc):
            raise
        raise sqlite3.OperationalError(
            f"a tradebus reader is read-only: the statement was refused ({exc})"
        ) from exc


class ReadOnlyConnection(sqlite3.Connection):
    """An ``sqlite3`` connection that cannot write any database by any SQL.

    Opened on a ``mode=ro`` URI with ``query_only`` on; an authorizer denies every
    statement but reads (no ATTACH, no VACUUM INTO, no pragma that sets anything), no
    database may be attached, and the methods that could undo this are refused.
    Queries, joins and read transactions (``BEGIN`` ... ``COMMIT``) work as usual.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA query_only=ON")
        super().setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        super().set_authorizer(_authorize)

    def cursor(self, factory: Any = ReadOnlyCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)

    def set_authorizer(self, authorizer_callback: Callable[..., int] | None, /) -> None:
        raise _refused("replace its authorizer")

    def setlimit(self, category: int, limit: int, /) -> int:
        if category == sqlite3.SQLITE_LIMIT_ATTACHED:
            raise _refused("attach databases")
        return super().setlimit(category, limit)

    def enable_load_extension(self, enable: bool, /) -> None:
        raise _refused("load extensions")

    def load_extension(self, *args: Any, **kwargs: Any) -> None:
        raise _refused("load extensions")

    def deserialize(self, *args: Any, **kwargs: Any) -> None:
        raise _refused("replace its database")

    def blobopen(self, *args: Any, **kwargs: Any) -> sqlite3.Blob:
        kwargs["readonly"] = True
        return super().blobopen(*args, **kwargs)


def _refused(what: str) -> sqlite3.OperationalError:
    return sqlite3.OperationalError(f"a tradebus reader is read-only: it may not {what}")


@asynccontextmanager
async def open_reader(
    path: str | os.PathLike[str], *, busy_timeout: float = 5.0
) -> AsyncIterator[aiosqlite.Connection]:
    """Open ``path`` read-only: no SQL through it can write any database.

    See :class:`ReadOnlyConnection`. It sees what the writer has committed, and works
    where the reading process cannot write the directory, as long as the database's
    WAL files exist.

    :raises WriterError: if the file does not exist or cannot be opened.
    """
    if not await anyio.Path(path).exists():
        raise WriterError(f"{path} does not exist: run 'tradebus init' or start its writer")
    try:
        conn = await aiosqlite.connect(
            reader_uri(path), uri=True, timeout=busy_timeout, factory=ReadOnlyConnection
        )
    except sqlite3.Error as exc:
        raise WriterError(f"cannot open {path} read-only: {exc}") from exc
    try:
        yield conn
    finally:
        await conn.close()
