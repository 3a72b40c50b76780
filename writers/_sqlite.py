"""SQLite plumbing of a writer: opening, pragmas, migrations, error classes."""

from __future__ import annotations

import os
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from schemas import Tick

from ._exceptions import SchemaVersionError, WriterError
from ._files import check_not_linked
from ._integrity import QUICK_CHECK_LIMIT
from ._lock import held_identity
from ._specs import DatabaseSpec

__all__ = [
    "TICK_COLUMNS",
    "TICK_FIELDS",
    "Synchronous",
    "is_transient",
    "migrate",
    "open_write_connection",
    "poison_of",
    "tick_insert_sql",
]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

# Errors that clear by themselves (or once an operator frees disk, fixes permissions,
# stops a foreign locker): the writer holds the batch and retries with backoff.
_TRANSIENT: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same batch later may succeed."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.ProgrammingError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        text = str(exc).lower()
        return any(w in text for w in ("locked", "busy", "disk", "i/o", "full", "readonly"))
    return (code & 0xFF) in _TRANSIENT


# What SQLite (or binding a value to it) raises for what an event holds: constraint and
# trigger aborts (IntegrityError), SQLITE_TOOBIG / SQLITE_MISMATCH / out-of-range
# values (DataError), a number too large for SQLite, a str that is not valid Unicode.
# Anything else (TypeError, KeyError, AttributeError, "no such column", ...) is a bug
# of the writer or of its spec: it fails loudly instead of hiding data in dead_letters.
_POISON_SQL: Final = (sqlite3.IntegrityError, sqlite3.DataError, OverflowError, UnicodeEncodeError)
_POISON_CODES: Final = frozenset(
    {sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH}
)


def poison_of(exc: BaseException) -> str | None:
    """Why ``exc`` says SQLite refused what the batch holds (so retrying it is
    pointless), as opposed to a bug (a wrong statement) or a sick database; None if
    it does not say so."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, _POISON_SQL) or (
        isinstance(exc, sqlite3.Error) and code is not None and (code & 0xFF) in _POISON_CODES
    ):
        return f"{type(exc).__name__}: {exc}"
    return None


def open_write_connection(
    path: str, *, synchronous: Synchronous, busy_timeout: float
) -> sqlite3.Connection:
    """Open ``path`` for writing: WAL, the chosen ``synchronous``, a busy timeout.

    Call it holding the file's :class:`WriterLock`, in the thread that will use the
    connection (it blocks: it may wait out a creation, and it reads the whole file).
    It refuses a database, -wal or -shm file that is a symbolic link, a file other
    than the one the lock holds, and a damaged file: SQLite's ``PRAGMA quick_check``
    runs over the whole file when it is at most ``QUICK_CHECK_LIMIT`` bytes, over its
    schema otherwise.

    :raises WriterError: if it cannot be opened, is damaged, or cannot be switched to
        WAL (for example in a directory where the -wal file cannot be created).
    """
    _check_files(path)  # it may wait out a creation
    try:
        conn = sqlite3.connect(
            path,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            timeout=busy_timeout,  # sqlite3 sets the busy timeout from it
            cached_statements=256,
            check_same_thread=False,  # one thread at a time: the writer's, or a creator's
        )
    except sqlite3.Error as exc:
        raise WriterError(f"cannot open {path} for writing: {exc}") from exc
    try:
        _check_identity(path)
        _quick_check(conn, path)
        mode = _pragma(conn, "PRAGMA journal_mode=WAL")
        if str(mode).lower() != "wal":
            raise WriterError(f"{path}: could not switch to WAL (journal_mode={mode})")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoint every ~4 MB of WAL (SQLite's default), and truncate the WAL file
        # back to 64 MB after a checkpoint so that a burst does not leave it huge.
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.execute("PRAGMA foreign_keys=ON")
        # Again, now that SQLite has opened them: before any write.
        _check_files(path)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise WriterError(f"cannot open {path} for writing: {exc}") from exc
        raise
    return conn


#: The writer's WAL auto-checkpoint threshold (pages; SQLite's default).
AUTOCHECKPOINT = 1000


def _check_files(path: str) -> None:
    """Refuse the database or its companion files if one is a link or not a file."""
    for suffix, what in (
        ("-wal", "write-ahead log"),
        ("-shm", "WAL index"),
        ("-journal", "rollback journal"),
    ):
        check_not_linked(Path(path + suffix), what, single_link=True)
    # A database being created has a second name for a moment (its temporary one,
    # unlinked right after it is linked into place): wait that moment out.
    for _ in range(100):
        try:
            check_not_linked(Path(path), "database", single_link=True)
            return
        except WriterError:
            time.sleep(0.01)
    check_not_linked(Path(path), "database", single_link=True)


def _check_identity(path: str) -> None:
    """The file SQLite opened is the one this process holds the writer lock of."""
    locked = held_identity(path)
    if locked is None:
        return
    try:
        info = os.stat(path)
    except OSError as exc:
        raise WriterError(f"cannot open {path} for writing: {exc}") from exc
    if (info.st_dev, info.st_ino) != locked:
        raise WriterError(
            f"{path} was replaced by another file while its writer started: "
            "find out what replaces it, then start the writer again"
        )


def _quick_check(conn: sqlite3.Connection, path: str) -> None:
    whole = os.stat(path).st_size <= QUICK_CHECK_LIMIT
    sql = "PRAGMA quick_check" if whole else "PRAGMA quick_check(sqlite_schema)"
    try:
        rows = [str(row[0]) for row in conn.execute(sql).fetchall()]
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF not in (
            sqlite3.SQLITE_CORRUPT,
            sqlite3.SQLITE_NOTADB,
        ):
            raise
        rows = [str(exc)]
    if rows != ["ok"]:
        found = "; ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
        raise WriterError(
            f"cannot open {path} for writing: it is damaged ({sql}: {found}); the writer "
            "will not write into it. Run 'tradebus check' for a full report, then restore "
            "the database from a backup or move the file aside"
        )


def _pragma(conn: sqlite3.Connection, sql: str) -> object:
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def migrate(conn: sqlite3.Connection, spec: DatabaseSpec, path: str) -> int:
    """Bring the schema to ``spec.schema_version``; return the version found.

    :raises SchemaVersionError: if the file's version is newer than the spec's.
    :raises WriterError: if a migration fails (the file keeps its previous version).
    """
    try:
        version = _pragma(conn, "PRAGMA user_version")
    except sqlite3.Error as exc:
        raise WriterError(f"cannot read the schema version of {path}: {exc}") from exc
    found = version if isinstance(version, int) else 0
    if found > spec.schema_version:
        raise SchemaVersionError(
            f"{path} has schema version {found} but this tradebus knows only up to "
            f"{spec.schema_version} for the {spec.name!r} database: upgrade tradebus"
        )
    for version in range(found, spec.schema_version):
        script = spec.migrations[version]
        # executescript commits first; the whole migration and its version bump are
        # one transaction, so a crash mid-migration leaves the previous version.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise WriterError(
                f"cannot migrate {path} to schema version {version + 1} of the "
                f"{spec.name!r} database: {exc}"
            ) from exc
    _probe_write(conn, path, spec.schema_version)
    return found


def _probe_write(conn: sqlite3.Connection, path: str, version: int) -> None:
    """Commit one harmless write, so that a file the writer cannot write fails now.

    Otherwise "attempt to write a readonly database" would only surface on the first
    batch, retried for ever as if it might clear by itself.
    """
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\nPRAGMA user_version = {version};\nCOMMIT;")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.rollback()
        raise WriterError(
            f"cannot write {path}: {exc}; its writer must be able to write the database "
            "and its -wal and -shm files: check their owner, their mode and attributes "
            "such as immutable (chattr +i)"
        ) from exc


# ------------------------------------------------------------------ tick rows

#: The fields of a ``Tick`` in declaration order: what ``msgspec.structs.astuple``
#: returns, and the column order of the tick INSERT.
TICK_COLUMNS: Final = Tick.__struct_fields__
TICK_FIELDS: Final = len(TICK_COLUMNS)
if set(TICK_COLUMNS) != {"symbol", "bid", "ask", "last", "volume", "source", "ts"}:
    raise ImportError(f"Tick fields changed ({TICK_COLUMNS}): update the tick table")


@lru_cache(maxsize=256)
def tick_insert_sql(table: str, rows: int) -> str:
    """The INSERT of ``rows`` ticks: a seq base, then every tick's fields, flattened.

    The parameters are ``[first_seq, *astuple(tick0), *astuple(tick1), ...]``: the
    statement binds the flattened tuples as they are, with anonymous parameters, and
    each row's seq is the base plus its offset. (Numbered parameters would make
    SQLite's compile time quadratic in the row count.)
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    fields = ",".join("?" * TICK_FIELDS)
    values = [f"(?1,{fields})"]
    values.extend(f"(?1+{i},{fields})" for i in range(1, rows))
    return f"INSERT INTO {table} (seq,{','.join(TICK_COLUMNS)}) VALUES " + ",".join(values)
