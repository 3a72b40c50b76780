"""The identity of a database's files: the database itself, its -wal and -shm.

A writer's connection keeps writing into the files it opened: once one is unlinked or
replaced, what it commits is gone at the next crash (and invisible to every other
connection meanwhile). The writer looks before each transaction and before each
acknowledgement, and stops, saving what it can.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

import anyio

from ._exceptions import WriterError

__all__ = ["FileWatch", "FilesChanged"]

logger = logging.getLogger("writers")

#: The files whose identity the writer watches: the database, its WAL and shared memory.
_SIDE_FILES = ("", "-wal", "-shm")


class FilesChanged(Exception):
    """A file of the database was deleted or replaced: nothing more may be committed."""


def identities(path: str) -> dict[str, tuple[int, int]]:
    """(st_dev, st_ino) of those of the database, -wal and -shm files that exist."""
    found: dict[str, tuple[int, int]] = {}
    for suffix in _SIDE_FILES:
        try:
            stat = os.stat(path + suffix)
        except OSError:  # missing, or its directory is
            continue
        found[suffix] = (stat.st_dev, stat.st_ino)
    return found


class FileWatch:
    """Remembers the files a connection opened; tells which one changed since."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.known: dict[str, tuple[int, int]] = {}

    def remember(self) -> None:
        self.known = identities(self.path)

    def changed(self) -> tuple[str, bool] | None:
        """(suffix, still there) of the first file that changed, the database first."""
        now = identities(self.path)
        for suffix, known in self.known.items():
            if now.get(suffix) != known:
                return suffix, suffix in now
        return None

    async def verify(self, holding: int, writer: str, rescue: Callable[[], Awaitable[str]]) -> None:
        """Stop the ``writer`` if the database, its -wal or its -shm file was deleted
        or replaced.

        When the database file itself is still in place, every committed transaction
        is first copied into it from the WAL the connection still holds open (by
        ``rescue``, which says what it saved), so that nothing acknowledged before is
        lost.

        :raises WriterError: naming the file, and saying what was saved.
        """
        changed = self.changed()
        if changed is None:
            return
        suffix, there = changed
        what = "was replaced by another file" if there else "vanished"
        if suffix:
            with anyio.CancelScope(shield=True):
                saved = await rescue()
        else:
            saved = (
                "what it committed went to the file it holds open, wherever that is now "
                "(deleted or moved away), and cannot be saved here; restore the data "
                "directory and restart"
            )
        error = WriterError(
            f"{self.path}{suffix} {what} while its writer ran: refusing to commit or "
            f"acknowledge anything more ({holding} events held are not acknowledged); {saved}"
        )
        # The error itself as the argument: a log handler can tell that this record
        # announces the error the writer raises (the CLI says it once).
        logger.error("writer %s: %s", writer, error)
        raise error

    def check(self) -> None:
        """:raises FilesChanged: if a file changed (in the SQLite thread, before a write)."""
        changed = self.changed()
        if changed is not None:
            raise FilesChanged(f"{self.path}{changed[0]} changed while its writer ran")
