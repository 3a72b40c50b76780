"""The base of every event, and the default of its id fields.

Every event encodes as a msgpack array ``[tag, field, field, ...]`` (``array_like``):
compact, and a batch of them decodes straight into rows. Fields are therefore only
ever appended, with defaults, so that older encoded events still decode.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from ._ids import new_event_id

__all__ = ["NEW_ID", "Event"]

#: The default of an id field (``event_id``, ``recommendation_id``): a new event id.
NEW_ID = msgspec.field(default_factory=new_event_id)


class Event(msgspec.Struct, frozen=True, tag=True, kw_only=True, array_like=True):
    """Base of every event: immutable, tagged by class name, keyword-only."""

    #: The first token of the event's topic, and so the family it belongs to.
    topic_prefix: ClassVar[str] = ""

    @property
    def topic(self) -> str:
        """The dotted NATS-style topic this event is published on."""
        raise NotImplementedError  # pragma: no cover - every concrete event overrides it
