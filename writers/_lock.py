"""The exclusive OS lock that makes a writer the only writer of its database file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from ._exceptions import WriterError, WriterLockError

__all__ = ["WriterLock", "lock_path"]


def lock_path(database: str | os.PathLike[str]) -> Path:
    """The lock file beside ``database``: ``<name>.writer.lock``."""
    path = Path(database)
    return path.with_name(path.name + ".writer.lock")


class WriterLock:
    """``flock(LOCK_EX | LOCK_NB)`` on a lock file beside the database.

    The kernel releases the lock when its process dies, however it dies, so a stale
    lock file never blocks a new writer. flock locks belong to the open file, so a
    second writer in the same process is refused too.
    """

    def __init__(self, database: str | os.PathLike[str], role: str = "") -> None:
        self.database = str(database)
        self.path = lock_path(database)
        self.role = role
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once or raise.

        :raises WriterLockError: naming the holder's pid and role.
        :raises WriterError: if the lock file cannot be created.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise WriterError(f"cannot create the writer lock {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            pid, role = holder.get("pid"), holder.get("role")
            raise WriterLockError(
                self.database,
                pid if isinstance(pid, int) else None,
                role if isinstance(role, str) else None,
            ) from None
        except OSError as exc:
            os.close(fd)
            raise WriterError(f"cannot lock {self.path}: {exc}") from exc
        record = json.dumps({"pid": os.getpid(), "role": self.role, "since": time.time()})
        with contextlib.suppress(OSError):  # the lock holds even if we cannot record who we are
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
