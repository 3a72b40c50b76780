"""The services a node runs on its bus (candles, the position monitor, retention).

Each is an async context manager taking the node: entered once the node's writers
and relays run, left before the node drains, in reverse order, so that what a
service publishes as it stops (the open candle, say) is committed with the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["NodeServices", "ServiceFactory"]

logger = logging.getLogger("tradebus")

#: Makes a service for a node (it starts when entered, stops when left).
ServiceFactory = Callable[["Node"], AbstractAsyncContextManager[object]]


class NodeServices:
    """The services of one node, started and stopped together by one task of the
    node's task group (:meth:`run`), so that each service's own task group is entered
    and left in that task, in order."""

    def __init__(self, factories: Sequence[ServiceFactory]) -> None:
        self.factories = tuple(factories)
        #: The services running, in the order they started.
        self.running: list[object] = []
        self._stop = anyio.Event()
        self._done: anyio.Event | None = None
        self._errors: list[Exception] = []

    async def run(self, node: Node, *, task_status: TaskStatus[None]) -> None:
        """Start every service (if one fails to start, stop those started and raise),
        report started, and stop them all when :meth:`stop` asks.

        Shielded: the node's teardown, not a cancellation, ends the services, so that
        each stores what it must as it stops.
        """
        self._done = done = anyio.Event()
        entered: list[AbstractAsyncContextManager[object]] = []
        try:
            with anyio.CancelScope(shield=True):
                try:
                    for factory in self.factories:
                        service = factory(node)
                        self.running.append(await service.__aenter__())
                        entered.append(service)
                except BaseException:
                    await self._leave(entered)
                    raise
                task_status.started()
                try:
                    await self._stop.wait()
                except BaseException as exc:
                    # A service's own task failed (its task group cancelled this
                    # task): unwind them all with that, as ``async with`` would.
                    stack = AsyncExitStack()
                    for service in entered:
                        stack.push_async_exit(service)
                    try:
                        if not await stack.__aexit__(type(exc), exc, exc.__traceback__):
                            raise
                    except BaseExceptionGroup as group:
                        raise _one_of(group) from None
                    return
                await self._leave(entered)
        finally:
            self.running.clear()
            done.set()

    async def _leave(self, entered: list[AbstractAsyncContextManager[object]]) -> None:
        """Stop ``entered``, the last started first, each as if nothing went wrong (so
        each stores what it must as it stops, whatever another one raised)."""
        for service in reversed(entered):
            try:
                await service.__aexit__(None, None, None)
            except Exception as failed:
                self._errors.append(failed)

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
