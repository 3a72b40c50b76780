"""What a forwarder reports."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ForwarderStatistics"]


class ForwarderStatistics(NamedTuple):
    """A forwarder's counters since it started."""

    #: How this forwarder's messages are named on NATS (``<name>.<token>``; each lane
    #: adds ``.<lane>``).
    origin: str
    #: Messages taken from the bus to forward.
    forwarded: int
    #: Messages (events) JetStream acknowledged (stored, or already stored: ``duplicates``).
    acked: int
    #: Of those, the ones JetStream reported as duplicates (a retry of a stored one).
    duplicates: int
    #: Messages taken and not yet acknowledged (at most ``max_in_flight``).
    in_flight: int
    #: Publishes tried again (a timeout, the server away).
    retries: int
    #: Messages that can never be published (acknowledged on the bus as not stored).
    failed: int
    #: Messages not forwarded because the bridge's consumer brought them.
    skipped: int
    #: NATS messages JetStream acknowledged (a batch of events is one).
    published: int = 0
