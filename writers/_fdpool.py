"""Descriptors of database files that this process keeps open, and drops in a forked child.

Closing *any* descriptor of a file releases every POSIX lock this process holds on
it, and SQLite keeps its own locks that way: a reader of the same database in this
process would silently lose its lock (and another process could then delete the WAL
under it). So a descriptor of a database file that the writer lock opened is never
closed while its file exists: it is kept here and reused the next time the same file
is locked. Only descriptors of deleted files are closed.

A process forked from this one must never hold a writer lock: an flock belongs to the
open file, which the child would share. After a fork, the child closes every
descriptor registered here (the parent's locks stay, its descriptors stay open).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

__all__ = [
    "Identity",
    "forget",
    "forks",
    "identity_of",
    "keep",
    "register",
    "take",
    "unregister",
]

#: (st_dev, st_ino): which file a descriptor or a path is.
Identity = tuple[int, int]

_guard = threading.Lock()
_spare: dict[Identity, list[int]] = {}
_ours: set[int] = set()  # every descriptor of ours, spare or in use
_forks = 0  # how many forks this process has come out of


def identity_of(fd: int) -> Identity:
    info = os.fstat(fd)
    return (info.st_dev, info.st_ino)


def register(fd: int) -> None:
    """Mark ``fd`` as ours: a forked child closes it."""
    with _guard:
        _ours.add(fd)


def unregister(fd: int) -> None:
    """``fd`` is about to be closed by its owner (it is not a database file's)."""
    with _guard:
        _ours.discard(fd)


def take(identity: Identity, *, for_reading: bool = False) -> int | None:
    """A kept descriptor of the file ``identity`` open for reading and writing (with
    ``for_reading``, open for reading at least), if any."""
    with _guard:
        spare = _spare.get(identity, [])
        for fd in spare:
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            if mode == os.O_RDWR or (for_reading and mode == os.O_RDONLY):
                spare.remove(fd)
                if not spare:
                    del _spare[identity]
                return fd
        return None


def keep(fd: int) -> None:
    """Keep ``fd`` (unlocked) for the next lock of its file; close those of deleted files."""
    with _guard:
        try:
            _spare.setdefault(identity_of(fd), []).append(fd)
        except OSError:
            _ours.discard(fd)
            return
        for identity, fds in list(_spare.items()):
            for spare in list(fds):
                try:
                    deleted = os.fstat(spare).st_nlink == 0
                except OSError:
                    deleted = True
                if deleted:
                    fds.remove(spare)
                    _ours.discard(spare)
                    with contextlib.suppress(OSError):
                        os.close(spare)
            if not fds:
                del _spare[identity]


def forks() -> int:
    """How many forks this process has come out of: a lock taken before is not held."""
    return _forks


def forget() -> None:
    """In a forked child: close every descriptor of ours; the parent keeps its own."""
    global _forks, _guard
    _forks += 1
    _guard = threading.Lock()  # another thread may have held it at the fork
    for fd in _ours:
        with contextlib.suppress(OSError):
            os.close(fd)
    _ours.clear()
    _spare.clear()


os.register_at_fork(after_in_child=forget)
