"""How many frames of a database's WAL are not checkpointed yet, from its WAL index.

SQLite checkpoints on its own inside the ``COMMIT`` that takes the WAL past
``wal_autocheckpoint`` frames: that commit, and so the acknowledgement of its events,
then waits for the checkpoint (a copy into the database file between two fsyncs,
several times a plain commit). A writer that checkpoints after the outcome is out
needs the count SQLite goes by, without running a checkpoint to learn it. The WAL
index (the ``-shm`` file, shared memory of every connection) holds it in its header,
described in SQLite's "WAL-mode File Format" (https://www.sqlite.org/walformat.html):
two copies of a 48-byte header, whose ``mxFrame`` (bytes 16-19) counts the frames in
the WAL, then the checkpoint information, whose ``nBackfill`` (bytes 96-99) counts
those already copied into the database, all in the machine's byte order.
"""

from __future__ import annotations

import os
import struct
from typing import Final

__all__ = ["WalIndex"]

#: iVersion, isInit and mxFrame of a header copy.
_HEADER: Final = struct.Struct("=I8xB3xI")
_BACKFILL: Final = struct.Struct("=I")
_COPY: Final = 48  # bytes of one header copy
_READ: Final = 2 * _COPY + 4  # both copies, then nBackfill
_VERSION: Final = 3007000  # the WAL index format, unchanged since SQLite 3.7.0


class WalIndex:
    """Reads the WAL index header of the database at ``path`` (its ``-shm`` file)."""

    def __init__(self, path: str) -> None:
        self.path = path + "-shm"
        self._fd: int | None = None

    def open(self) -> bool:
        """Open the index; whether its header can be read (else :meth:`backlog` is
        always None: another format, or no shared-memory file)."""
        self.close()
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        if self.backlog() is None:
            self.close()
            return False
        return True

    def backlog(self) -> int | None:
        """Frames in the WAL not yet copied into the database; None if unknown now (the
        header is being written, or cannot be read)."""
        fd = self._fd
        if fd is None:
            return None
        try:
            data = os.pread(fd, _READ, 0)
        except OSError:
            return None
        if len(data) < _READ or data[:_COPY] != data[_COPY : 2 * _COPY]:
            return None  # a header being changed: its two copies differ
        version, initialised, frames = _HEADER.unpack_from(data)
        if version != _VERSION or not initialised:
            return None
        (backfilled,) = _BACKFILL.unpack_from(data, 2 * _COPY)
        return max(int(frames) - int(backfilled), 0)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
