"""Atomic groups: several events published together, delivered all or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from anyio.lowlevel import checkpoint

from ._delivery import Member, deliver_group, lacking_room, room_needed
from ._message import Headers
from ._routing import Router
from ._waiting import wait_stored, waited_on_routes

__all__ = ["GroupPublishing", "encoded_members", "event_members", "publish_group"]

_new = tuple.__new__


class GroupPublishing:
    """The :class:`~eventbus.EventBus` methods that publish atomic groups."""

    _router: Router

    def publish_many_nowait(
        self, events: Iterable[Any], *, headers: Headers | None = None
    ) -> list[int]:
        """Publish ``events`` as one atomic group: every one of them, or none.

        Each event goes to its own topic. Every event is admitted and routed, and
        every ``block`` subscription checked for room for all the members it takes,
        before anything is appended. The messages get consecutive seqs (returned in
        order), and each has ``group`` = the last one's seq. A subscription's
        :meth:`~Subscription.receive_batch` never splits the group.

        Raises what :meth:`publish_nowait` raises for the first event refused, and:

        :raises BusFull: if a ``block`` subscription has no room for its members.
        :raises EventBusError: if a ``block`` subscription takes more members than its
            ``max_buffer`` (the group could never be delivered).
        """
        members = event_members(self._router, events, "publish_many_nowait")
        return deliver_group(self._router, members, headers, foreign=False)

    async def publish_many(
        self, events: Iterable[Any], *, headers: Headers | None = None, wait: bool = False
    ) -> list[int]:
        """Like :meth:`publish_many_nowait`, waiting for room (backpressure) instead of
        raising :class:`BusFull`: the group goes in once each subscription it goes to
        has room for one more message, so it never waits behind single publishers.

        With ``wait=True``, return once every member is acknowledged (see
        :meth:`publish`); if some were not stored, raise :class:`NotStored` for the
        first of them (its ``more`` counts the others; they are not reported to a
        flush again), or :class:`BusClosed` if a durable subscription closed first.
        """
        await checkpoint()
        members = event_members(self._router, events, "publish_many")
        return await publish_group(self._router, members, headers, foreign=False, wait=wait)

    def publish_encoded_many_nowait(
        self, items: Sequence[tuple[bytes, str]], *, headers: Headers | None = None
    ) -> list[int]:
        """:meth:`publish_many_nowait` for ``(data, topic)`` pairs that arrive encoded
        (checked as :meth:`publish_encoded_nowait` checks them)."""
        members = encoded_members(self._router, items, "publish_encoded_many_nowait")
        return deliver_group(self._router, members, headers, foreign=True)

    async def publish_encoded_many(
        self,
        items: Sequence[tuple[bytes, str]],
        *,
        headers: Headers | None = None,
        wait: bool = False,
    ) -> list[int]:
        """:meth:`publish_many` for ``(data, topic)`` pairs that arrive encoded."""
        await checkpoint()
        members = encoded_members(self._router, items, "publish_encoded_many")
        return await publish_group(self._router, members, headers, foreign=True, wait=wait)


def event_members(router: Router, events: Iterable[Any], method: str) -> list[Member]:
    """Admit every event and work out its route, before anything is delivered.

    Raises what :meth:`EventBus.publish_nowait` raises for the first event refused.
    """
    router.check_thread(method)
    if router.closed:
        raise router.ledger.closed_error()
    members: list[Member] = []
    topic_of, route, routes = router.topic_of, router.route, router.routes
    for event in events:
        topic = topic_of(event)
        # tuple.__new__: a Member without the NamedTuple constructor's Python frame.
        members.append(_new(Member, (topic, event, routes.get(topic) or route(topic))))
    return members


def encoded_members(
    router: Router, items: Iterable[tuple[bytes, str]], method: str
) -> list[Member]:
    """Check every ``(data, topic)`` and work out its route, before anything is delivered.

    Raises what :meth:`EventBus.publish_encoded_nowait` raises for the first refused.
    """
    router.check_thread(method)
    if router.closed:
        raise router.ledger.closed_error()
    members = []
    for data, topic in items:
        data = bytes(data)
        router.check_encoded(data, topic)
        members.append(Member(topic, data, router.route(topic)))
    return members


async def publish_group(
    router: Router,
    members: list[Member],
    headers: Headers | None,
    *,
    foreign: bool,
    wait: bool,
) -> list[int]:
    """Deliver the group once every ``block`` inbox has room for a message, then,
    with ``wait``, wait until they are all acknowledged.

    Not once there is room for the whole group: publishers of single messages would
    take every slot a consumer frees, and the group would wait for ever. An inbox
    may so hold up to one group more than its ``max_buffer``.
    """
    while True:
        lacking = lacking_room(room_needed(members, headers), whole=False)
        if lacking is None:
            seqs = deliver_group(router, members, headers, foreign, whole=False)
            break
        inbox, _count = lacking
        await inbox.wait_room(1)
        if router.closed:
            closed = router.ledger.closed_error()
            raise closed from closed.__cause__
        # Subscriptions may have come or gone while we waited.
        members = [Member(m.topic, m.payload, router.route(m.topic)) for m in members]
    if wait:
        origin = None if headers is None else headers.origin
        routes = [m.route.recipients(origin) for m in members]
        await wait_stored(router.ledger, seqs, waited_on_routes(routes))
    return seqs
