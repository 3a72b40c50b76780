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

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["NodeServices", "ServiceFactory"]

logger = logging.getLogger("tradebus")

#: Makes a service for a node (it starts when entered, stops when left).
ServiceFactory = Callable[["Node"], AbstractAsyncContextManager[object]]


class NodeServices:
    """The services of one node, started and stopped together."""

    def __init__(self, factories: Sequence[ServiceFactory]) -> None:
        self.factories = tuple(factories)
        #: The services running, in the order they started.
        self.running: list[object] = []
        self._entered: list[AbstractAsyncContextManager[object]] = []

    async def start(self, node: Node) -> None:
        """Start every service; if one fails to start, stop those started and raise."""
        try:
            for factory in self.factories:
                service = factory(node)
                self.running.append(await service.__aenter__())
                self._entered.append(service)
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
        entered, self._entered = self._entered, []
        self.running.clear()
        errors: list[Exception] = []
        with anyio.CancelScope(shield=True):
            for service in reversed(entered):
                try:
                    await service.__aexit__(None, None, None)
                except Exception as failed:
                    errors.append(failed)
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
