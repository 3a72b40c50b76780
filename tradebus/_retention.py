"""Retention as a node's service: every database the node writes, pruned by its own
writer (a :class:`~writers.Pruner` per hosted role's writer)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Self

from writers import Pruner, PruneReport, PruneStatistics, Retention

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["RetentionService", "retention_service"]


class RetentionService:
    """Prunes every database ``node`` hosts the writer of, by ``retention``.

    Use inside the running node, ``async with RetentionService(node, policy):``, or
    hand :func:`retention_service` to the node's services. Each hosted writer runs
    its own :class:`~writers.Pruner`: a pass at once, then one every
    ``retention.every`` seconds. Leaving it ends the steps under way (committed).
    A database the node does not host is pruned by the node that hosts it.
    """

    def __init__(self, node: Node, retention: Retention) -> None:
        if not isinstance(retention, Retention):
            raise TypeError(f"retention must be a Retention, got {retention!r}")
        self.node = node
        self.retention = retention
        self.pruners: dict[str, Pruner] = {}
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            for role in self.node.roles:
                spec = self.node.topology.owned_by(role)
                pruner = Pruner(self.node.writer(spec), self.retention)
                self.pruners[spec.name] = await stack.enter_async_context(pruner)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def prune(self) -> dict[str, PruneReport]:
        """Run a pass now on every hosted database (after the one under way, if any)."""
        return {name: await pruner.prune() for name, pruner in self.pruners.items()}

    def statistics(self) -> dict[str, PruneStatistics]:
        """Per hosted database: its pruner's counters."""
        return {name: pruner.statistics() for name, pruner in self.pruners.items()}


def retention_service(retention: Retention) -> Callable[[Node], RetentionService]:
    """A node service factory: ``Node(..., services=[retention_service(policy)])``.

    :raises TypeError: at once, if ``retention`` is not a :class:`Retention`.
    """
    if not isinstance(retention, Retention):
        raise TypeError(f"retention must be a Retention, got {retention!r}")

    def make(node: Node) -> RetentionService:
        return RetentionService(node, retention)

    return make
