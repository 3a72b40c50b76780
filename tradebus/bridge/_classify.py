"""What the consumer makes of one JetStream message: its events for its database (and
the forwarder lane that numbered the message, if it carries events without an
``event_id``), or why the message, or one of its events, is a dead letter.

A message carries one event (its payload) or, with a ``Tradebus-Batch`` header,
several (see :mod:`._batch`): each event is checked alone, so a bad one is a dead
letter by itself; a message whose subject or framing is wrong is one as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import schemas
from schemas import Event, InvalidEvent
from writers import DatabaseSpec

from ._batch import BadBatch, unpack_batch
from ._names import BATCH, MSG_ID, ORIGIN, SEQ, TopicHomes, topic_of

__all__ = ["Item", "Verdict", "classify"]

#: The largest message number of a forwarder lane (a cursor is a signed 64-bit int).
_MAX_SEQ = 2**63 - 1


class Item(NamedTuple):
    """One event of a message: its bytes, and the event (``reason`` None) or why it
    is a dead letter."""

    data: bytes
    event: Event | None
    reason: str | None


class Verdict(NamedTuple):
    """A message's events (``reason`` None), or why the whole message is a dead letter."""

    items: list[Item]
    #: The forwarder lane and number of a message of events without ``event_id``.
    lane: tuple[str, int] | None
    reason: str | None


def classify(
    subject: str,
    data: bytes,
    headers: Mapping[str, str] | None,
    *,
    prefix: str,
    spec: DatabaseSpec,
    homes: TopicHomes,
) -> Verdict:
    """Decode and check one message's events as the bus would (and its subject's
    database)."""
    topic = topic_of(subject, prefix)
    if topic is None:
        return Verdict([], None, f"subject {subject!r} lacks the bridge's prefix {prefix!r}")
    home = homes(topic)
    if home is None:
        return Verdict([], None, f"subject {subject!r} belongs to no database")
    if home.name != spec.name:
        return Verdict(
            [], None, f"subject {subject!r} belongs to database {home.name!r}, not {spec.name!r}"
        )
    count = headers.get(BATCH) if headers else None
    if count is None:
        items = [_check(data, topic, spec)]
    else:
        try:
            payloads = unpack_batch(data, count)
        except BadBatch as exc:
            return Verdict([], None, f"not a valid batch of events: {exc}")
        items = [_check(item, topic, spec) for item in payloads]
    lane = None
    seq = headers.get(SEQ) if headers else None
    if headers and seq is not None:
        origin, msg_id = headers.get(ORIGIN), headers.get(MSG_ID)
        number = int(seq) if seq.isascii() and seq.isdigit() else 0
        if not origin or not 1 <= number <= _MAX_SEQ:
            return Verdict(
                [], None,
                f"bad forwarder headers: {ORIGIN} {origin!r}, {SEQ} {seq!r} (allowed: an "
                f"origin and a number from 1 to {_MAX_SEQ})",
            )  # fmt: skip
        if msg_id == f"{origin}:{seq}":  # numbered by its lane (no event_id)
            lane = (origin, number)
    return Verdict(items, lane, None)


def _check(data: bytes, topic: str, spec: DatabaseSpec) -> Item:
    try:
        event = schemas.decode(data)  # checked as the bus's admit hook checks events
    except InvalidEvent as exc:
        return Item(data, None, f"not a valid event: {exc}")
    own = event.topic
    if own != topic:
        return Item(data, None, f"its event's topic is {own!r}, not the subject's {topic!r}")
    if type(event) not in spec.event_types:
        return Item(data, None, f"{type(event).__name__} is not stored by {spec.name!r}")
    return Item(data, event, None)
