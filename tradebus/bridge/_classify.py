"""What the consumer makes of one JetStream message: an event for its database (and
the forwarder lane that numbered it, if it has no ``event_id``), or why it is none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import schemas
from schemas import Event, InvalidEvent
from writers import DatabaseSpec

from ._names import MSG_ID, ORIGIN, SEQ, TopicHomes, topic_of

__all__ = ["Verdict", "classify"]


class Verdict(NamedTuple):
    """An event to publish (``reason`` None) or why the message is a dead letter."""

    event: Event | None
    #: The forwarder lane and number of an event without ``event_id`` (else None).
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
    """Decode and check one message as the bus would (and its subject's database)."""
    topic = topic_of(subject, prefix)
    if topic is None:
        return Verdict(None, None, f"subject {subject!r} lacks the bridge's prefix {prefix!r}")
    home = homes(topic)
    if home is None:
        return Verdict(None, None, f"subject {subject!r} belongs to no database")
    if home.name != spec.name:
        return Verdict(
            None, None, f"subject {subject!r} belongs to database {home.name!r}, not {spec.name!r}"
        )
    try:
        event = schemas.decode(data)  # checked as the bus's admit hook checks events
    except InvalidEvent as exc:
        return Verdict(None, None, f"not a valid event: {exc}")
    own = event.topic
    if own != topic:
        return Verdict(None, None, f"its event's topic is {own!r}, not the subject's {topic!r}")
    if type(event) not in spec.event_types:
        return Verdict(None, None, f"{type(event).__name__} is not stored by {spec.name!r}")
    lane = None
    if headers:
        origin, seq, msg_id = headers.get(ORIGIN), headers.get(SEQ), headers.get(MSG_ID)
        if origin and seq and seq.isdigit() and msg_id == f"{origin}:{seq}":
            lane = (origin, int(seq))
    return Verdict(event, lane, None)
