"""How the consumer names its cursors in ``relay_cursors``."""

from __future__ import annotations

from typing import Final

__all__ = ["BRIDGE_ORIGIN", "consumer_origin", "tick_origin"]

#: The start of the origin of every message the bridge's consumer publishes on a bus
#: (a forwarder does not send those back).
BRIDGE_ORIGIN: Final = "nats:"


def consumer_origin(stream: str, durable: str) -> str:
    """The cursor of a stream's consumer: the last stream sequence committed."""
    return f"{BRIDGE_ORIGIN}{stream}/{durable}"


def tick_origin(stream: str, durable: str, origin: str) -> str:
    """The high-water mark of one forwarder lane's messages without an ``event_id``."""
    return f"{consumer_origin(stream, durable)}@{origin}"
