"""The read-only connections a node keeps open for quick reads of any database."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import aiosqlite
import anyio

from writers import DatabaseSpec, open_reader

from ._empty_reader import empty_database
from ._quick_reader import OwnReader, QuickReader, ReadsNow, RowSource

__all__ = ["SharedReaders"]


class SharedReaders:
    """One shared read-only connection per database, opened on first use.

    :param path: the file of a database.
    :param hosted: whether this node writes a database (by name).
    """

    def __init__(self, path: Callable[[DatabaseSpec], Path], hosted: Callable[[str], bool]) -> None:
        self.path = path
        self.hosted = hosted
        self._stack = AsyncExitStack()
        self._shared: dict[str, aiosqlite.Connection] = {}
        self._empty: dict[str, aiosqlite.Connection] = {}
        self._quick: dict[str, QuickReader] = {}
        self._own: dict[str, RowSource] = {}
        self._opening = anyio.Lock()

    async def get(self, spec: DatabaseSpec) -> aiosqlite.Connection:
        conn = self._shared.get(spec.name)
        if conn is not None:
            return conn
        async with self._opening:  # two first readers open one connection
            conn = self._shared.get(spec.name)
            if conn is None:
                path = self.path(spec)
                if not self.hosted(spec.name) and not path.exists():
                    # Its owner runs elsewhere and never started: nothing is committed
                    # there (yet). Look again next time.
                    return await self._empty_reader(spec)
                conn = await self._stack.enter_async_context(open_reader(path))
                self._shared[spec.name] = conn
        return conn

    async def quick(self, spec: DatabaseSpec) -> RowSource:
        """A reader of a few rows on the calling thread (see :class:`QuickReader`),
        falling back on the shared connection of ``spec``."""
        quick = self._quick.get(spec.name)
        if quick is not None:
            return quick
        shared = await self.get(spec)
        if spec.name not in self._shared:
            return shared  # the file does not exist yet: nothing to read quickly
        quick = self._quick.get(spec.name)  # another task may have made it meanwhile
        if quick is None:
            quick = QuickReader(self.path(spec), shared)
            self._stack.callback(quick.close)
            self._quick[spec.name] = quick
        return quick

    async def own(self, spec: DatabaseSpec, writer: ReadsNow) -> RowSource:
        """A reader of a few rows of a database this node writes, through its
        ``writer``'s connection while that is idle (see :class:`OwnReader`), else as
        :meth:`quick` reads."""
        own = self._own.get(spec.name)
        if own is None:
            quick = await self.quick(spec)
            own = self._own.setdefault(spec.name, OwnReader(writer, quick))
        return own

    async def _empty_reader(self, spec: DatabaseSpec) -> aiosqlite.Connection:
        conn = self._empty.get(spec.name)
        if conn is None:
            conn = await self._stack.enter_async_context(empty_database(spec))
            self._empty[spec.name] = conn
        return conn

    async def aclose(self) -> None:
        self._shared.clear()
        self._empty.clear()
        self._quick.clear()
        self._own.clear()
        await self._stack.aclose()
