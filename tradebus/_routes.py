"""Why a persistent event cannot be published in a node: the errors it gets."""

from __future__ import annotations

from eventbus import BusClosed, matches
from writers import SPECS

from ._exceptions import NoRoute
from ._topology import Topology

__all__ = ["unrouted"]


def unrouted(topology: Topology, topic: str) -> NoRoute | BusClosed | None:
    """The error for ``topic`` that no writer of a running node takes (None: it is
    not persistent, so in-process subscribers only).

    Every database of the topology has a writer that takes its events (its owner's,
    or the one forwarding them to its outbox); if it no longer does, it stopped.
    """
    spec = topology.home_of_topic(topic)
    if spec is None:
        stored = next((s for s in SPECS if any(matches(p, topic) for p in s.topics)), None)
        if stored is None:
            return None
        return NoRoute(
            f"no role of this topology owns a database for {topic!r} (the "
            f"{stored.name!r} database's events); it has {topology.describe()}; "
            "nothing was enqueued"
        )
    # Not a mistake of the caller: the writer failed (the node is going down).
    return BusClosed(
        f"cannot publish {topic!r}: the writer that takes it for {spec.name!r} "
        f"({spec.filename}) has stopped; nothing was enqueued"
    )
