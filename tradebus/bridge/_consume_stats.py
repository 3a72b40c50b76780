"""What a consumer reports."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ConsumerStatistics"]


class ConsumerStatistics(NamedTuple):
    """A consumer's counters since it started."""

    stream: str
    durable: str
    database: str
    #: Where this run started reading the stream (a stream sequence).
    started_at: int
    #: The last stream sequence handed to the bus (or dead-lettered, or skipped).
    handed: int
    #: The last stream sequence acknowledged on JetStream (committed before).
    acked: int
    #: Events published on the bus (then committed by the database's writer).
    consumed: int
    #: Messages skipped as copies of ones already committed (a forwarder's retry).
    duplicates: int
    #: Messages JetStream delivered again that this run had handed already.
    redelivered: int
    #: Messages committed to ``dead_letters`` instead.
    dead_lettered: int
    #: Messages of the stream after the last one fetched (as JetStream last said).
    lag: int
    #: How often the consumer was made again (at start, and after a missed delivery).
    restarts: int
