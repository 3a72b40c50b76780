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
from anyio.abc import TaskGroup, TaskStatus

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["NodeServices", "ServiceFactory"]

logger = logging.getLogger("tradebus")

#: Makes a service for a node (it starts when entered, stops when left).
ServiceFactory = Callable[["Node"], AbstractAsyncContextManager[object]]


class _Runner:
    """One service's task: enters it, waits to be told to stop, leaves it; entering
    and leaving in one task (a service's own task group must exit where it entered)."""

    def __init__(self, factory: ServiceFactory) -> None:
        self.factory = factory
        self.stop = anyio.Event()
        self.done = anyio.Event()
        self.error: Exception | None = None

    async def run(self, node: Node, *, task_status: TaskStatus[object]) -> None:
        try:
            # Never cancelled half-way: it is stopped by stop(), however the node ends.
            with anyio.CancelScope(shield=True):
                service = self.factory(node)
                task_status.started(await service.__aenter__())
                await self.stop.wait()
                try:
                    await service.__aexit__(None, None, None)
                except Exception as failed:
                    self.error = failed
        finally:
            self.done.set()


class NodeServices:
    """The services of one node, started and stopped together."""

    def __init__(self, factories: Sequence[ServiceFactory]) -> None:
        self.factories = tuple(factories)
        #: The services running, in the order they started.
        self.running: list[object] = []
        self._runners: list[_Runner] = []
        self._task_group: TaskGroup | None = None

    async def start(self, node: Node) -> None:
        """Start every service; if one fails to start, stop those started and raise."""
        if not self.factories:
            return
        group = self._task_group = anyio.create_task_group()
        await group.__aenter__()
        try:
            for factory in self.factories:
                runner = _Runner(factory)
                self.running.append(await group.start(runner.run, node))
                self._runners.append(runner)
        except BaseException as exc:
            await self.stop(exc)
            raise

    async def stop(self, exc: BaseException | None = None) -> None:
        """Stop every service, the last started first, each as if nothing went wrong
        (so each stores what it must as it stops, whatever another one raised).

        The first error a service raises is raised once all are stopped (the others
        as its notes); with ``exc`` (the node is going down on an error) they are
        logged instead.
        """
        runners, self._runners = self._runners, []
        group, self._task_group = self._task_group, None
        self.running.clear()
        with anyio.CancelScope(shield=True):
            for runner in reversed(runners):
                runner.stop.set()
                await runner.done.wait()
        if group is not None:
            await group.__aexit__(None, None, None)
        errors = [runner.error for runner in reversed(runners) if runner.error is not None]
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
