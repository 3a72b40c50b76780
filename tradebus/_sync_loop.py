"""A node run by an event loop in a thread of its own, for blocking callers.

It hosts the role when the role's writer lock is free, and otherwise (the role's
writer runs in another process) runs as a client: a node hosting no role, whose
events go through its own outbox file and reach their databases through the
owners' relays.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from writers import WriterLock, WriterLockError

from ._node import Node, ensure_data_dir
from ._open_node import open_node
from ._topology import Topology

__all__ = ["Mode", "NodeThread"]

T = TypeVar("T")

Mode = Literal["host", "client"]


class NodeThread:
    """An event loop in a background thread, running a node for ``role``.

    ``mode`` is ``"host"`` when the node hosts ``role`` (its writer lock was free),
    ``"client"`` when another writer holds it (``holder`` says who); :meth:`call` runs
    a coroutine function there and returns its result; :meth:`close` flushes and
    closes the node, then stops the loop and joins its thread.
    """

    def __init__(
        self, role: str, data_dir: str | os.PathLike[str], options: dict[str, Any]
    ) -> None:
        self.role = role
        # Absolute: files opened later (readers) are the same whatever the cwd is then.
        self.data_dir = Path(os.path.abspath(data_dir))
        topology = options.get("topology")
        database = (topology if isinstance(topology, Topology) else Topology.default()).owned_by(
            role
        )  # an unknown role is refused before any thread starts
        self._loop = _LoopThread(f"tradebus-{role}")
        self._portal = self._loop.portal
        self._stack = ExitStack()
        self._stack.callback(self._loop.stop)
        try:
            ensure_data_dir(self.data_dir)
            holder = _held_elsewhere(self.data_dir / database.filename, role)
            if holder is None:
                try:
                    self.node = self._open(roles=[role], options=options)
                except WriterLockError as exc:  # taken between our look and the node's
                    holder = exc
            if holder is not None:
                self.node = self._open(roles=(), options=options)
        except BaseException:
            self._stack.close()
            raise
        self.mode: Mode = "host" if holder is None else "client"
        #: Why this is a client: the error naming the role's writer (None when host).
        self.holder: WriterLockError | None = holder

    def _open(self, *, roles: list[str] | tuple[()], options: dict[str, Any]) -> Node:
        # Made in the loop's thread, like everything of the node.
        node = self._portal.call(
            functools.partial(open_node, self.data_dir, roles=roles, **options)
        )
        return self._stack.enter_context(self._portal.wrap_async_context_manager(node))

    def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` in the loop and return (raise) what it returns (raises)."""
        return self._portal.call(func)

    def close(self) -> None:
        """Flush and close the node, stop the loop and join its thread."""
        self._stack.close()


class _LoopThread:
    """A :class:`~anyio.from_thread.BlockingPortal` served by an event loop (asyncio)
    in a daemon thread of its own.

    What ``anyio.from_thread.start_blocking_portal`` does, without its generator: a
    forked child that drops its copy of this object has nothing to finalize, where
    the generator's cleanup would wait forever for a loop that runs only in the
    parent. A daemon thread: the interpreter does not wait for it before the atexit
    hooks run, one of which closes the node.
    """

    def __init__(self, name: str) -> None:
        started: Future[BlockingPortal] = Future()
        self._thread = threading.Thread(target=_serve, args=(started,), name=name, daemon=True)
        self._thread.start()
        self.portal = started.result()

    def stop(self) -> None:
        """Stop the portal (the node is closed: nothing runs in it) and join the thread."""
        with contextlib.suppress(RuntimeError):  # the loop is not running any more
            self.portal.call(self.portal.stop)
        self._thread.join()


def _serve(started: Future[BlockingPortal]) -> None:
    """Run a portal until it is stopped; hand it over through ``started``."""

    async def serve() -> None:
        async with BlockingPortal() as portal:
            started.set_result(portal)
            await portal.sleep_until_stopped()

    try:
        anyio.run(serve, backend="asyncio")
    except BaseException as exc:
        if not started.done():
            started.set_exception(exc)
        raise


def _held_elsewhere(database: Path, role: str) -> WriterLockError | None:
    """The error naming the writer that holds ``database``, or None if it is free.

    A look before the node opens, so that a role run elsewhere makes a client without
    a writer failing (and saying so in the log) first.
    """
    lock = WriterLock(database, role)
    try:
        lock.acquire()
    except WriterLockError as exc:
        return exc
    lock.release()
    return None
