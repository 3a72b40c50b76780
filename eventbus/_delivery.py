"""Appending messages to the inboxes of their route: one message, or an atomic group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ._exceptions import BusFull, EventBusError
from ._inbox import Inbox
from ._message import Envelope, Headers, Message
from ._routing import Route, Router

__all__ = ["Member", "deliver", "deliver_group", "lacking_room", "room_needed"]


def deliver(
    router: Router,
    topic: str,
    payload: Any,
    route: Route,
    headers: Headers | None,
    foreign: bool = False,
) -> int:
    """Append one message (``payload``: the event, or its bytes if ``foreign``) to
    every inbox of ``route``, or to none.

    :raises BusFull: if a ``block`` inbox of the route is full (nothing delivered).
    """
    if headers is not None:
        route = route.recipients(origin_of(headers))
    for inbox in route.blocking:
        if len(inbox.buffer) + inbox.lent >= inbox.max_buffer:
            raise BusFull(inbox.subscription)
    router.seq = seq = router.seq + 1
    if foreign:
        message: Message[Any] = Message(topic, seq, None, router.foreign, headers, payload)
    else:
        message = Message(topic, seq, payload, router.local, headers)
    for inbox in route.inboxes:
        inbox.append(message)
    for inbox in route.inboxes:
        if inbox.on_ready is not None:
            inbox.call_if_ready()
    return seq


class Member(NamedTuple):
    """One message of a group, before it has a seq."""

    topic: str
    #: The event, or its bytes (a foreign group).
    payload: Any
    route: Route


def origin_of(headers: Headers | None) -> str | None:
    """The origin ``headers`` name (None without headers).

    :raises TypeError: if ``headers`` are not :class:`Headers` (``publish_nowait``
        takes them by position too).
    """
    if headers is None:
        return None
    if not isinstance(headers, Headers):
        raise TypeError(f"headers must be eventbus.Headers or None, got {headers!r}")
    return headers.origin


def room_needed(members: Sequence[Member], headers: Headers | None) -> dict[Inbox, int]:
    """How many messages of the group each ``block`` inbox must take.

    :raises EventBusError: if the group is larger than one of those inboxes can ever
        hold (it would wait forever).
    """
    origin = origin_of(headers)
    # Members of one topic share their (cached) route: count them per route first.
    per_route: dict[int, list[Any]] = {}
    for member in members:
        seen = per_route.get(id(member.route))
        if seen is None:
            per_route[id(member.route)] = [member.route, 1]
        else:
            seen[1] += 1
    needed: dict[Inbox, int] = {}
    for route, n in per_route.values():
        for inbox in route.recipients(origin).blocking:
            needed[inbox] = needed.get(inbox, 0) + n
    for inbox, count in needed.items():
        if count > inbox.max_buffer:
            raise EventBusError(
                f"cannot publish a group of {count} messages to subscription "
                f"{inbox.subscription.name!r}: it holds at most {inbox.max_buffer} "
                "(max_buffer) and a group is delivered whole; nothing was delivered: "
                "publish fewer events at once or subscribe with a larger max_buffer"
            )
    return needed


def lacking_room(needed: dict[Inbox, int], *, whole: bool = True) -> tuple[Inbox, int] | None:
    """The first inbox without room for its part of the group (``whole``), or without
    room for one more message, and that part."""
    for inbox, count in needed.items():
        if inbox.full_for(count if whole else 1):
            return inbox, count
    return None


def deliver_group(
    router: Router,
    members: Sequence[Member],
    headers: Headers | None,
    foreign: bool = False,
    *,
    whole: bool = True,
) -> list[int]:
    """Append every member to its inboxes with consecutive seqs, or append nothing.

    Every message's ``group`` is the last member's seq; the members an inbox takes
    are consecutive in it (nothing else is appended in between). Unless ``whole``,
    an inbox with room for one more message takes all its members (it may then hold
    up to one group more than ``max_buffer``).

    :raises BusFull: if a ``block`` inbox lacks room for its members (nothing delivered).
    :raises EventBusError: if the group can never fit in one (see :func:`room_needed`).
    """
    if not members:
        return []
    lacking = lacking_room(room_needed(members, headers), whole=whole)
    if lacking is not None:
        raise BusFull(lacking[0].subscription)
    first = router.seq + 1
    router.seq = last = router.seq + len(members)
    codec = router.foreign.codec if foreign else router.encode
    envelope = Envelope(codec, foreign=foreign, group=last)
    origin = origin_of(headers)
    # The inboxes of each route, worked out once per group (members share routes).
    recipients: dict[int, tuple[Inbox, ...]] = {}
    for seq, member in enumerate(members, first):
        if foreign:
            message: Message[Any] = Message(
                member.topic, seq, None, envelope, headers, member.payload
            )
        else:
            message = Message(member.topic, seq, member.payload, envelope, headers)
        inboxes = recipients.get(id(member.route))
        if inboxes is None:
            inboxes = recipients[id(member.route)] = member.route.recipients(origin).inboxes
        for inbox in inboxes:
            inbox.append(message)
    armed = [i for inboxes in recipients.values() for i in inboxes if i.on_ready is not None]
    for inbox in dict.fromkeys(armed):  # each once, in order
        inbox.call_if_ready()
    return list(range(first, last + 1))
