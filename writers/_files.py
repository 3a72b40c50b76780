"""The files of a database, opened safely: never through a link, created atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from ._exceptions import WriterError

__all__ = ["check_not_linked", "create_database_file", "open_regular_file"]

_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block an open


def open_regular_file(path: Path, flags: int, *, what: str, single_link: bool = False) -> int:
    """Open ``path`` with ``flags``, refusing a symbolic link or anything but a regular file.

    With ``single_link`` a file with other hard links is refused too (writing it would
    write them).

    :raises WriterError: naming ``what`` the file is, when it is a link or not a file.
    :raises OSError: any other failure to open it (the caller says what it meant to do).
    """
    try:
        fd = os.open(path, flags | _FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WriterError(
                f"{path} ({what}) is a symbolic link: tradebus never follows a link there, "
                "so that nobody can make it write another file; remove the link"
            ) from exc
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif single_link and info.st_nlink > 1:
        problem = f"has {info.st_nlink} hard links"
    if problem is not None:
        os.close(fd)  # not a database file: closing it cannot drop SQLite's locks
        raise WriterError(f"{path} ({what}) {problem}: tradebus refuses it; remove it")
    return fd


def check_not_linked(path: Path, what: str, *, single_link: bool = False) -> None:
    """Refuse ``path`` if it exists as anything but a regular file (a link, a directory...).

    With ``single_link`` a file with other hard links is refused too: a hard link makes
    two names one file (a write-ahead log shared by two databases mixes them).

    :raises WriterError: naming the file and what to do.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WriterError(f"cannot inspect {path} ({what}): {exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise WriterError(
            f"{path} ({what}) is a symbolic link: tradebus never follows a link there, "
            "so that nobody can make it write another file; remove the link"
        )
    if not stat.S_ISREG(info.st_mode):
        raise WriterError(f"{path} ({what}) is not a regular file: tradebus refuses it; remove it")
    if single_link and info.st_nlink > 1:
        raise WriterError(
            f"{path} ({what}) has {info.st_nlink} hard links: it would be shared with "
            "another name, so tradebus refuses it; remove the other links"
        )


def create_database_file(path: Path) -> bool:
    """Create an empty SQLite database at ``path`` atomically; False if ``path`` exists.

    The database is built and synced in a temporary file beside ``path``, then hard
    linked into place, which never replaces an existing file. So a crash leaves either
    no database or a whole one (and perhaps a stray ``.<name>.new-*`` file), never an
    empty file at ``path``.

    :raises WriterError: if it cannot be created (no such directory, no permission...).
    """
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(6)}")
    try:
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | _FLAGS, 0o644)
        os.close(fd)
        conn = sqlite3.connect(temporary)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header page
        finally:
            conn.close()  # the last connection removes the -wal and -shm files
        fd = os.open(temporary, os.O_RDONLY | _FLAGS)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path, follow_symlinks=False)
        except FileExistsError:
            return False
        _sync_directory(path.parent)
        return True
    except (OSError, sqlite3.Error) as exc:
        raise WriterError(f"cannot create the database {path}: {exc}") from exc
    finally:
        for leftover in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(f"{temporary}{leftover}")


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
