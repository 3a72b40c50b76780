"""Is a database file sound? A fast check of its header, and SQLite's own checks."""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path
from typing import Final

from . import _fdpool
from ._exceptions import WriterError
from ._files import open_regular_file
from ._reader import reader_uri

__all__ = ["QUICK_CHECK_LIMIT", "check_database", "header_problem", "read_header"]

#: A writer runs SQLite's ``PRAGMA quick_check`` over the whole file at start when
#: the file is at most this big: it reads every page, which costs about 1.2 s for
#: 256 MB from the page cache and 5 s from disk, so at most about 0.6 s / 2.5 s here.
#: A bigger file gets the fast checks and ``quick_check`` of its schema only;
#: ``tradebus check`` checks it whole.
QUICK_CHECK_LIMIT: Final = 128 * 1024 * 1024

_MAGIC: Final = b"SQLite format 3\x00"
_HEADER: Final = 100

EMPTY_FILE_ADVICE: Final = (
    "tradebus creates a database whole, so something else created or emptied this "
    "file: restore the database from a backup, or delete the empty file to start a new, "
    "empty database"
)


def read_header(fd: int) -> tuple[bytes, int]:
    """The first 100 bytes of the open file ``fd`` and its size."""
    return os.pread(fd, _HEADER, 0), os.fstat(fd).st_size


def header_problem(header: bytes, size: int, wal_size: int) -> str | None:
    """What is wrong with a database file, judged by its header and size; None if nothing.

    ``wal_size`` is the size of its -wal file (0 if there is none): while the WAL
    holds pages, the main file may legitimately be shorter than its header says.
    """
    if size == 0:
        return f"it is an empty file (0 bytes), not a database: {EMPTY_FILE_ADVICE}"
    if size < _HEADER or header[:16] != _MAGIC:
        return "it is not an SQLite database (it does not start with SQLite's header)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if not 512 <= page <= 65536 or page & (page - 1):
        return f"its header is damaged (page size {page})"
    if header[21:24] != b"\x40\x20\x20":
        return "its header is damaged (payload fractions)"
    if size % page:
        return (
            f"its size ({size} bytes) is not a whole number of its {page}-byte pages: "
            "something other than SQLite cut or extended it"
        )
    pages = int.from_bytes(header[28:32], "big")
    current = header[24:28] == header[92:96]
    if current and pages and wal_size == 0 and size < pages * page:
        return (
            f"it is truncated: its header counts {pages} pages of {page} bytes, "
            f"the file holds {size // page}"
        )
    return None


def wal_size(path: Path) -> int:
    """The size of ``path``'s -wal file, 0 if it has none."""
    try:
        return os.lstat(f"{path}-wal").st_size
    except OSError:
        return 0


def check_database(path: str | os.PathLike[str]) -> list[str]:
    """SQLite's full ``PRAGMA integrity_check`` of ``path``, read-only; [] when sound.

    Safe while the database's writer runs: it reads one snapshot (the writer carries
    on; its WAL cannot be checkpointed past that snapshot until the check ends).

    :returns: the problems found, each a line a person can read.
    """
    file = Path(path)
    try:
        # A kept descriptor of the file if there is one: each check must not keep one
        # more (a descriptor of a database file is never closed: see _fdpool).
        info = os.lstat(file)
        fd = (
            None
            if stat.S_ISLNK(info.st_mode)
            else _fdpool.take((info.st_dev, info.st_ino), for_reading=True)
        )
        if fd is None:
            fd = open_regular_file(file, os.O_RDONLY, what="database")
            _fdpool.register(fd)
    except FileNotFoundError:
        return [f"{file} does not exist: run 'tradebus init' or start its writer"]
    except (OSError, WriterError) as exc:
        return [f"cannot open {file}: {exc}"]
    try:
        header, size = read_header(fd)
    finally:
        _fdpool.keep(fd)  # never closed while it exists: see _fdpool
    problem = header_problem(header, size, wal_size(file))
    if problem is not None:
        return [f"{file}: {problem}"]
    try:
        with closing(sqlite3.connect(reader_uri(file), uri=True, timeout=10.0)) as conn:
            conn.execute("PRAGMA query_only=ON")
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as exc:
        return [f"{file}: {exc}"]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else [f"{file}: {line}" for line in found]
