"""Noticing that another process committed to a file, without busy-polling a core.

One thread per node looks at each watched file's database and ``-wal`` (their
identity, size and modification time: a commit in WAL mode always changes the
``-wal``) every few milliseconds, a ``stat`` each, and wakes the event loop only when
one changed. Idle, that is a few microseconds of work per file and interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path
from types import TracebackType

import anyio

__all__ = ["FileChanges"]

#: How often the files are looked at (seconds).
INTERVAL = 0.005

_Signature = tuple[tuple[int, int, int, int] | None, ...]


def _signature(path: Path) -> _Signature:
    marks: list[tuple[int, int, int, int] | None] = []
    for name in (path, path.with_name(path.name + "-wal")):
        try:
            st = os.stat(name)
        except OSError:
            marks.append(None)
        else:
            marks.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(marks)


class _Watched:
    __slots__ = ("event", "signature", "version")

    def __init__(self, signature: _Signature) -> None:
        self.signature = signature
        self.version = 0
        self.event = anyio.Event()


class FileChanges:
    """Watches files for changes; ``async with FileChanges() as changes:``.

    :meth:`version` is a number that grows each time the file changed;
    :meth:`wait` returns once it is past the one given (or after ``at_most`` s: a
    change a stat cannot see, such as two commits within one clock tick of the same
    size, is still noticed by whoever waits that long).
    """

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._files: dict[Path, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> FileChanges:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._serve, name="tradebus file watch", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await anyio.to_thread.run_sync(thread.join)

    def watch(self, path: Path) -> None:
        """Start watching ``path`` (a database file; its ``-wal`` too)."""
        with self._lock:
            if path not in self._files:
                self._files[path] = _Watched(_signature(path))

    def version(self, path: Path) -> int:
        self.watch(path)
        return self._files[path].version

    async def wait(self, path: Path, version: int, at_most: float = 1.0) -> None:
        """Return once ``path`` changed after ``version`` (or after ``at_most`` s)."""
        self.watch(path)
        watched = self._files[path]
        with anyio.move_on_after(at_most):
            while watched.version == version:
                await watched.event.wait()

    def _serve(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                files = list(self._files.items())
            for path, watched in files:
                signature = _signature(path)
                if signature != watched.signature:
                    watched.signature = signature
                    self._notify(watched)

    def _notify(self, watched: _Watched) -> None:
        loop = self._loop
        if loop is None:
            return

        def wake() -> None:
            watched.version += 1
            event, watched.event = watched.event, anyio.Event()
            event.set()

        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(wake)
