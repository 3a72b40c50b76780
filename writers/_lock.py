"""The exclusive OS lock that makes a writer the only writer of its database file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Final

from . import _fdpool
from ._exceptions import WriterError, WriterLockError
from ._fdpool import Identity
from ._files import create_database_file, open_regular_file
from ._holder import identify
from ._integrity import header_problem, read_header, wal_size

__all__ = ["WriterLock", "held_identity", "lock_path"]

_ATTEMPTS: Final = 20  # the file changed under us (created, replaced) this many times: give up
_UNLISTED_RETRIES: Final = 2  # refused, yet the kernel lists no holder: try again this often

_held: dict[str, Identity] = {}  # absolute database path -> the file this process locked
_held_guard = threading.Lock()


def _forget_in_a_forked_child() -> None:
    """A forked child holds none of its parent's locks (flock is not inherited as its
    own: the parent's descriptors are closed in the child), and gets a fresh guard
    (another thread of the parent may have held it at the fork)."""
    global _held_guard
    _held_guard = threading.Lock()
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_a_forked_child)


def lock_path(database: str | os.PathLike[str]) -> Path:
    """The lock file beside ``database``: ``<name>.writer.lock``, the holder's record."""
    path = Path(database)
    return path.with_name(path.name + ".writer.lock")


def held_identity(database: str | os.PathLike[str]) -> Identity | None:
    """(st_dev, st_ino) of the file this process holds the writer lock of, if it does."""
    with _held_guard:
        return _held.get(os.path.abspath(database))


class WriterLock:
    """``flock(LOCK_EX | LOCK_NB)`` on the database file itself.

    The kernel releases the lock when its process dies, however it dies, so nothing
    stale ever blocks a new writer. An flock belongs to the open file, so a second
    writer in the same process is refused too; a process forked from the holder does
    not keep it (see ``_fdpool``). Deleting or replacing files beside the database
    changes nothing: the lock is on the database's own inode.

    Taking it also makes sure the file is one a writer may write: a missing database
    is created whole (never left as an empty file); a symbolic link, an empty file or
    a file that does not look like an SQLite database is refused.

    The lock file beside the database, ``<name>.writer.lock``, records the holder's
    pid and role so that a refused writer can be told its role. It is locked too, so
    that an older tradebus, which locks only that file, is refused as well.
    """

    def __init__(self, database: str | os.PathLike[str], role: str = "") -> None:
        self.database = str(database)
        self.path = lock_path(database)
        self.role = role
        self._fd: int | None = None  # the database file, locked
        self._record_fd: int | None = None  # the lock file, locked
        self._forks = 0

    def acquire(self) -> None:
        """Take the lock at once or raise.

        :raises WriterLockError: naming the holder as truthfully as this process can.
        :raises WriterError: if the database cannot be created, opened for writing or
            is not a database, or a file involved is a symbolic link.
        """
        if self.held:
            return
        database = Path(self.database)
        unlisted = 0
        for _ in range(_ATTEMPTS):
            fd = _open_database(database)
            if fd is None:
                continue  # deleted between our look and our open: look again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                identity = _fdpool.identity_of(fd)
                _fdpool.keep(fd)
                holder = identify(identity, self.path)
                if not holder.listed and unlisted < _UNLISTED_RETRIES:
                    unlisted += 1
                    continue  # perhaps released meanwhile: try again
                raise WriterLockError(
                    self.database, holder.pid, holder.role, holder.description
                ) from None
            except OSError as exc:
                _fdpool.keep(fd)
                raise WriterError(f"cannot lock {database}: {exc}") from exc
            try:
                if not _is_at(database, fd):
                    _unlock(fd)
                    continue  # replaced after we opened it: lock the new one
                _check_header(database, fd)
                self._record_fd = self._record()
            except BaseException:
                _unlock(fd)
                raise
            self._fd = fd
            self._forks = _fdpool.forks()
            with _held_guard:
                _held[os.path.abspath(database)] = _fdpool.identity_of(fd)
            return
        raise WriterError(
            f"{database} kept changing while its writer lock was being taken: "
            "is another program creating, deleting or replacing it?"
        )

    def release(self) -> None:
        """Release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        record, self._record_fd = self._record_fd, None
        if fd is None or self._forks != _fdpool.forks():
            return  # never held, or held by the process this one was forked from
        with _held_guard:
            _held.pop(os.path.abspath(self.database), None)
        if record is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(record, 0)
            _fdpool.unregister(record)
            os.close(record)  # the lock file is not a database: closing it is harmless
        _unlock(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None and self._forks == _fdpool.forks()

    def _record(self) -> int | None:
        """Lock the lock file too and record who we are in it; None if we cannot write it."""
        try:
            fd = open_regular_file(
                self.path, os.O_RDWR | os.O_CREAT, what="writer lock record", single_link=True
            )
        except OSError as exc:
            if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
                return None  # a read-only directory: the lock holds without the record
            raise WriterError(f"cannot open the writer lock record {self.path}: {exc}") from exc
        _fdpool.register(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            identity = _fdpool.identity_of(fd)
            _fdpool.unregister(fd)
            os.close(fd)
            if not isinstance(exc, BlockingIOError):
                raise WriterError(f"cannot lock {self.path}: {exc}") from exc
            # Only an older tradebus holds the lock file without the database.
            holder = identify(identity, self.path)
            raise WriterLockError(
                self.database, holder.pid, holder.role, holder.description
            ) from None
        record = json.dumps({"pid": os.getpid(), "role": self.role, "since": time.time()})
        with contextlib.suppress(OSError):  # the lock holds even if we cannot record who we are
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        return fd


def _open_database(database: Path) -> int | None:
    """A descriptor of ``database`` open for writing, created whole if missing.

    None if the file vanished between looking and opening.
    """
    try:
        info = os.lstat(database)
    except FileNotFoundError:
        create_database_file(database)
        return None  # look again: another process may have created it first
    except OSError as exc:
        raise WriterError(f"cannot open {database} for writing: {exc}") from exc
    if not stat.S_ISLNK(info.st_mode):
        kept = _fdpool.take((info.st_dev, info.st_ino))
        if kept is not None:
            return kept
    try:
        fd = open_regular_file(database, os.O_RDWR, what="database")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriterError(
            f"cannot open {database} for writing: {exc}; its writer must be able to write "
            "it: check its owner, its mode and attributes such as immutable (chattr +i)"
        ) from exc
    _fdpool.register(fd)
    return fd


def _is_at(database: Path, fd: int) -> bool:
    """Whether ``fd`` is still the file at ``database``."""
    try:
        info = os.lstat(database)
    except OSError:
        return False
    return not stat.S_ISLNK(info.st_mode) and (info.st_dev, info.st_ino) == _fdpool.identity_of(fd)


def _check_header(database: Path, fd: int) -> None:
    header, size = read_header(fd)
    problem = header_problem(header, size, wal_size(database))
    if problem is not None:
        raise WriterError(f"cannot open {database} for writing: {problem}")


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    _fdpool.keep(fd)  # never closed while the file exists: see _fdpool
