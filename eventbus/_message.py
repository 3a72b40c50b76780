"""The message the bus hands to subscribers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["Message"]


class Message(msgspec.Struct, gc=False):
    """One published event, as every matching subscription receives it.

    ``data`` is the encoded event (encoded once, shared by every subscriber); ``event``
    is the published object itself when it was published in this process, or decoded
    from ``data`` once, lazily, when the message came from elsewhere (``foreign``:
    published with ``publish_encoded``; what ``event`` then holds is whatever the
    bus's decoder made of the bytes). Treat it as read-only.
    """

    topic: str
    seq: int
    data: bytes
    local: Any = None
    decoder: Callable[[bytes], Any] | None = None
    foreign: bool = False

    @property
    def event(self) -> Any:
        """The event object (decoded from ``data`` on first access if not local)."""
        event = self.local
        if event is None:
            decode = self.decoder if self.decoder is not None else msgspec.msgpack.decode
            event = self.local = decode(self.data)
        return event
