"""The services a node runs on its bus (candles, the position monitor, retention).

Each is an async context manager taking the node: entered once the node's writers
and relays run, left before the node drains, in reverse order, so that what a
service publishes as it stops (the open candle, say) is committed with the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["NodeServices", "ServiceFactory"]

logger = logging.getLogger("tradebus")

#: Makes a service for a node (it starts when entered, stops when left).
ServiceFactory = Callable[["Node"], AbstractAsyncContextManager[object]]


class _Slot:
    """One service, run by a task of its own: entered, kept until asked to stop, left
    (``async with``: its task group, if it has one, is entered and left in order)."""

    def __init__(self, factory: ServiceFactory) -> None:
        self.factory = factory
        self.stop = anyio.Event()
        self.done = anyio.Event()
        #: What it raised as it stopped (once asked to).
        self.error: Exception | None = None

    async def run(self, node: Node, *, task_status: TaskStatus[None]) -> None:
        started = False
        try:
            async with self.factory(node):
                started = True
                task_status.started()
                await self.stop.wait()
        except Exception as exc:
            if not started or not self.stop.is_set():
                raise  # a failed start (to the starter), or its own task failed: the node
            self.error = exc  # as it stopped: the node's caller gets it after the drain
        finally:
            self.done.set()


class NodeServices:
    """The services of one node, started and stopped together by one task of the
    node's task group (:meth:`run`), each service in a task of its own."""

    def __init__(self, factories: Sequence[ServiceFactory]) -> None:
        self.factories = tuple(factories)
        self._slots: list[_Slot] = []
        self._stop = anyio.Event()
        self._done: anyio.Event | None = None
        self._errors: list[Exception] = []
        self._scope: anyio.CancelScope | None = None

    def shield(self) -> None:
        """Shield the running services from a cancellation of the node (its teardown
        stops them)."""
        if self._scope is not None:
            self._scope.shield = True

    async def run(self, node: Node, *, task_status: TaskStatus[None]) -> None:
        """Start every service (if one fails to start, stop those started and raise),
        report started, and stop them all, the last started first, when :meth:`stop`
        asks.

        Shielded once the node has started (:meth:`shield`): the node's teardown, not
        a cancellation, ends the services, so that each stores what it must as it
        stops (a cancellation while the node starts cancels them). A service whose
        own task fails fails the node with that error.
        """
        self._done = done = anyio.Event()
        try:
            with anyio.CancelScope() as self._scope:
                try:
                    async with anyio.create_task_group() as tg:
                        for factory in self.factories:
                            slot = _Slot(factory)
                            try:
                                await tg.start(slot.run, node)
                            except BaseException:
                                await self._stop_all()
                                raise
                            self._slots.append(slot)
                        task_status.started()
                        await self._stop.wait()
                        await self._stop_all()
                except BaseExceptionGroup as group:
                    raise _one_of(group) from None
        finally:
            done.set()

    async def _stop_all(self) -> None:
        for slot in reversed(self._slots):
            slot.stop.set()
            await slot.done.wait()
            if slot.error is not None:
                self._errors.append(slot.error)
        self._slots.clear()

    async def stop(self, exc: BaseException | None = None) -> None:
        """Stop every service and wait until they are stopped.

        The first error a service raised as it stopped is raised here (the others as
        its notes); with ``exc`` (the node is going down on an error) they are logged
        instead.
        """
        self._stop.set()
        done = self._done
        if done is not None:
            with anyio.CancelScope(shield=True):
                await done.wait()
        errors, self._errors = self._errors, []
        if not errors:
            return
        if exc is not None:
            for error in errors:
                logger.error("a service failed as the node stopped: %s", error, exc_info=error)
            return
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"another service failed too: {other}")
        raise first


def _one_of(group: BaseExceptionGroup) -> BaseException:
    """The error of a service's task group that failed: its one error (not the
    cancellations it caused), or the group when there are several."""
    cancelled = anyio.get_cancelled_exc_class()
    errors = [e for e in group.exceptions if not isinstance(e, cancelled)]
    if len(errors) == 1:
        one = errors[0]
        return _one_of(one) if isinstance(one, BaseExceptionGroup) else one
    return group
