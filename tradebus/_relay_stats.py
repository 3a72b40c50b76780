"""What a relay reports: how far it has delivered a source's outbox."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RelayStatistics"]


class RelayStatistics(NamedTuple):
    """One relay: the events of one source's outbox for one database of this node."""

    #: The source's file, relative to the data directory (``analysis_data.db``,
    #: ``outboxes/client-1.db``).
    source: str
    #: The database the relay delivers to (``main``, ``analysis``, ``logs``).
    database: str
    #: The last outbox position committed in the database (0: none yet).
    cursor: int
    #: Events of the source's outbox for the database not committed yet, as last
    #: seen (while the relay is behind, an estimate: the positions left times the
    #: events per row of its last read; a row may hold many ticks).
    pending: int
    #: How long the oldest of them has waited (seconds; 0.0 when none).
    lag_seconds: float
    #: Events this relay delivered since the node started.
    delivered: int
