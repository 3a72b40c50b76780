"""Noticing that another process committed to a file, without busy-polling a core.

On Linux, inotify tells the event loop when a file of a watched directory is written
(a commit in WAL mode always writes the ``-wal``): no thread, no timer, nothing to do
while nobody writes. The kernel merges repeated events that are not read yet, so a
busy writer costs one wake-up per read, not one per page written. Elsewhere (no
inotify), a thread looks at each watched file's database and ``-wal`` (identity,
size, modification time) every :data:`POLL_INTERVAL` seconds.

Either way, :meth:`FileChanges.wait` also returns after its ``at_most`` seconds, so a
change that neither can see (a file on a network mount) is noticed that late at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import os
import struct
import threading
from pathlib import Path
from types import TracebackType

import anyio
import anyio.to_thread

__all__ = ["POLL_INTERVAL", "FileChanges"]

#: How often the files are looked at where there is no inotify (seconds).
POLL_INTERVAL = 0.02

_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000
_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_SUFFIXES = ("-wal", "-shm", "-journal")

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

    def changed(self) -> None:
        """(In the event loop.) Count a change and wake whoever waits."""
        self.version += 1
        event, self.event = self.event, anyio.Event()
        event.set()


class _Inotify:
    """A non-blocking inotify instance (None from :meth:`open` where there is none)."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self.libc = libc
        self.fd = fd
        self.directories: dict[int, Path] = {}
        self.watching: set[Path] = set()  # the same directories, to look up

    @classmethod
    def open(cls) -> _Inotify | None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return None if fd < 0 else cls(libc, fd)

    def add(self, directory: Path) -> bool:
        if directory in self.watching:
            return True
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory), _MASK)
        if wd < 0:
            return False  # not there (yet): the caller looks again
        self.directories[wd] = directory
        self.watching.add(directory)
        return True

    def read(self) -> list[Path] | None:
        """The files named by the events waiting (None: some were lost, assume all)."""
        names: list[Path] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            except OSError as exc:  # pragma: no cover - the fd was closed under us
                if exc.errno == errno.EBADF:
                    return names
                raise
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                if mask & _IN_Q_OVERFLOW:
                    return None
                directory = self.directories.get(wd)
                if directory is not None and name:
                    names.append(directory / os.fsdecode(name))

    def close(self) -> None:
        os.close(self.fd)


class FileChanges:
    """Watches database files for changes; ``async with FileChanges() as changes:``.

    :meth:`version` is a number that grows each time the file changed;
    :meth:`wait` returns once it is past the one given (or after ``at_most`` s).
    """

    def __init__(self) -> None:
        self._files: dict[Path, _Watched] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inotify: _Inotify | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> FileChanges:
        loop = self._loop = asyncio.get_running_loop()
        self._inotify = _Inotify.open()
        if self._inotify is not None:
            loop.add_reader(self._inotify.fd, self._on_events)
        else:
            self._thread = threading.Thread(target=self._poll, name="tradebus file watch")
            self._thread.daemon = True
            self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        inotify, self._inotify = self._inotify, None
        if inotify is not None and self._loop is not None:
            self._loop.remove_reader(inotify.fd)
            inotify.close()
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await anyio.to_thread.run_sync(thread.join)

    def watch(self, path: Path) -> None:
        """Start watching ``path`` (a database file; its ``-wal`` too)."""
        path = Path(os.path.abspath(path))
        with self._lock:
            if path not in self._files:
                self._files[path] = _Watched(_signature(path))
        if self._inotify is not None:
            self._inotify.add(path.parent)

    def _watched(self, path: Path) -> _Watched:
        path = Path(os.path.abspath(path))
        watched = self._files.get(path)
        if watched is None or (self._inotify is not None and not self._inotify.add(path.parent)):
            self.watch(path)  # again: its directory may exist now
            watched = self._files[path]
        return watched

    def version(self, path: Path) -> int:
        return self._watched(path).version

    async def wait(self, path: Path, version: int, at_most: float = 5.0) -> None:
        """Return once ``path`` changed after ``version`` (or after ``at_most`` s)."""
        watched = self._watched(path)
        with anyio.move_on_after(at_most):
            while watched.version == version:
                await watched.event.wait()

    def _on_events(self) -> None:
        """(In the event loop.) inotify has events: wake the waiters of their files."""
        inotify = self._inotify
        if inotify is None:
            return
        names = inotify.read()
        if names is None:  # events were lost: every file may have changed
            changed = list(self._files.values())
        else:
            changed = []
            for name in set(names):
                text = str(name)
                for suffix in _SUFFIXES:
                    if text.endswith(suffix):
                        text = text[: -len(suffix)]
                watched = self._files.get(Path(text))
                if watched is not None and watched not in changed:
                    changed.append(watched)
        for watched in changed:
            watched.changed()

    def _poll(self) -> None:
        """(In the polling thread.) Look at every file; wake the waiters of those changed."""
        while not self._stop.wait(POLL_INTERVAL):
            with self._lock:
                files = list(self._files.items())
            for path, watched in files:
                signature = _signature(path)
                if signature != watched.signature:
                    watched.signature = signature
                    loop = self._loop
                    if loop is not None:
                        with contextlib.suppress(RuntimeError):  # the loop closed
                            loop.call_soon_threadsafe(watched.changed)
