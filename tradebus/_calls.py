"""What every trade-integration call does: check routes, recognise a retry, read
the committed state, and publish its events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import schemas
from eventbus import EventBus
from schemas import Event, RecommendationUpdate

from . import _references as references
from ._event_fields import identity
from ._exceptions import StaleUpdate, TradebusError

if TYPE_CHECKING:
    import aiosqlite

    from ._node import Node
    from ._quick_reader import RowSource

__all__ = ["IntegrationCalls", "publish_together"]


async def publish_together(
    bus: EventBus, takes: Callable[[Event], str | None], events: Sequence[Event]
) -> None:
    """Publish ``events`` so that they are stored together or not at all, and return
    once all are committed.

    Events that one writer of this node takes (``takes`` names it: one database's
    events, or events of several databases that the writer appends to its outbox with
    its own) go as one atomic group (``publish_many``): it commits them in one
    transaction, or none of them. Events of several writers (an execution and its
    recommendation's update when both databases are hosted: two writers, two files)
    cannot share a transaction; they go one at a time, each once the one before it is
    committed, so that a first event the writer refuses (:class:`eventbus.NotStored`)
    leaves nothing behind.
    """
    if len(events) > 1 and len({takes(event) for event in events}) == 1:
        await bus.publish_many(events, wait=True)
        return
    for event in events:
        await bus.publish(event, wait=True)


class IntegrationCalls:
    """The steps the calls of :class:`~tradebus.TradeIntegration` share."""

    def __init__(self, node: Node, role: str) -> None:
        self.node = node
        self.role = role

    async def _log(self, first: Event, *then: Event) -> None:
        """Publish ``first`` and ``then`` (see :func:`publish_together`), and return once
        all are committed; refuse them all, before anything is enqueued, if one has no
        route."""
        self._check_routes(first, *then)
        await publish_together(self.node.bus, self.node.takes, (first, *then))

    def _check_routes(self, *events: Event) -> None:
        for event in events:
            self.node.check_route(event)

    async def _record(self, event_type: type[Event], event_id: str | None, **fields: Any) -> str:
        """Build (validate), log and return the ``event_id`` of one event."""
        event = schemas.build(event_type, **identity(event_type, event_id), **fields)
        self._check_routes(event)
        if event_id is not None:
            await self._stored_before(event)
        await self._log(event)
        return str(event.event_id)  # type: ignore[attr-defined]

    async def _closed_already(self, update: RecommendationUpdate) -> bool:
        """Whether ``update`` (a close) would change nothing: its recommendation is
        closed already (by another update, or by this very one before)."""
        database, conn = await self._reader(RecommendationUpdate)
        try:
            await references.require_later_stage(conn, database, update)
        except StaleUpdate:
            return True
        return False

    async def _stored_before(self, event: Event) -> bool:
        """Whether ``event``, under a caller's ``event_id``, is committed already (its
        call is a retry: the event a replay).

        :raises AlreadyRecorded: if the ``event_id`` is committed with other content.
        """
        database, conn = await self._reader(type(event))
        return await references.stored_before(conn, database, event)

    async def _reader(self, event_type: type[Event]) -> tuple[str, RowSource]:
        """The file name and a point reader of ``event_type``'s home."""
        spec = self.node.topology.home(event_type)
        if spec is None:
            raise TradebusError(f"no database of this topology stores {event_type.__name__}")
        return spec.filename, await self.node.reference_reader(spec)

    async def _shared(self, event_type: type[Event]) -> aiosqlite.Connection:
        """The shared read-only connection of ``event_type``'s home (for reads of many
        rows: they run in its thread, never on the event loop's)."""
        spec = self.node.topology.home(event_type)
        if spec is None:
            raise TradebusError(f"no database of this topology stores {event_type.__name__}")
        return await self.node.shared_reader(spec)
