"""What a writer asks of the database it writes: the :class:`Store` protocol.

The generic writer (batching, the pipeline, retries, dead letters, drain) knows no
database; a store turns batches of messages into transactions and runs them. SQLite
is one store; a PostgreSQL one fits the same protocol. The writer's side of the
contract:

- it plans and submits transactions in the order they must commit, and awaits their
  outcomes in that order;
- after an outcome that failed (an error, or :class:`Skipped`), the store runs none
  of the transactions submitted before that failure was reported (they are skipped),
  and the next :meth:`Store.plan` continues from the last committed transaction (for
  example the next tick seq), whatever was planned since;
- it acknowledges a transaction's messages only after its outcome and a
  :meth:`Store.verify` both returned (or, settling at once for a waiter or in a
  publisher's call, after :meth:`Pending.committed` and :meth:`Store.verified` both
  said so).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import msgspec

from eventbus import Message

__all__ = [
    "Fault",
    "Pending",
    "Poison",
    "Skipped",
    "Store",
    "Transaction",
    "dead_letter_rows",
    "encoded",
    "event_name",
    "peek_tag",
]

_raw_decode = msgspec.msgpack.Decoder().decode

#: How a failed transaction is treated: retried later as it is (``transient``), split
#: to find what cannot be stored (``poison``), or the end of the writer: the database
#: cannot be written (``fatal``), or the writer or its spec is wrong (``bug``).
Fault = Literal["transient", "poison", "fatal", "bug"]


class Poison(Exception):
    """The messages hold something that retrying will not store."""


class Skipped(Exception):
    """Not run: a transaction submitted before it failed."""


class Transaction(Protocol):
    """A planned transaction: what the store will run for some messages."""

    #: Rows it writes per table (statistics).
    @property
    def rows(self) -> Mapping[str, int]: ...


class Pending(Protocol):
    """A submitted transaction."""

    def done(self) -> bool:
        """Whether its outcome is known."""
        ...

    def committed(self) -> float | None:
        """How long it ran (seconds) if it is done and committed, without waiting;
        None if it is not done yet, failed, or was a trial (:meth:`outcome` tells)."""
        ...

    async def outcome(self) -> float:
        """Wait for it; return how long it ran (seconds).

        Waiting is not cut short by cancellation: a transaction being committed
        cannot be recalled, and whether it committed decides what is acknowledged.

        :raises Skipped: if it was not run, because one submitted before it failed.
        :raises Exception: what running it raised (see :meth:`Store.classify`).
        """
        ...


class Store(Protocol):
    """One database, written by one writer."""

    #: What it writes, for messages (a path, a database name).
    @property
    def target(self) -> str: ...

    #: Whether its transactions run while the event loop is busy (in a thread of its
    #: own): a publisher's call may then hand it batches (see ``Writer``).
    @property
    def runs_off_loop(self) -> bool: ...

    async def open(self) -> None:
        """Take the database for this writer alone, bring its schema up to date.

        :raises WriterError: if it cannot (the message says why and what to do).
        """
        ...

    async def close(self) -> None:
        """Release what :meth:`open` took. Safe to call after a failed open."""
        ...

    def plan(self, messages: Sequence[Message]) -> Transaction:
        """The transaction that stores ``messages``, in order.

        :raises Poison: if some message cannot be stored (it cannot be decoded, or
            this database does not store its type).
        """
        ...

    def dead_letters(self, failures: Sequence[tuple[Message, str]]) -> Transaction:
        """The transaction that records messages that cannot be stored, with why."""
        ...

    def submit(self, transaction: Transaction, *, trial: bool = False) -> Pending:
        """Run ``transaction`` after those submitted before it; return at once.

        With ``trial``, it is run and then rolled back: to learn whether it would
        commit.
        """
        ...

    def classify(self, error: BaseException) -> Fault:
        """What planning or running a transaction raised (see :data:`Fault`)."""
        ...

    async def verify(self, holding: int) -> None:
        """Make sure what was committed is kept: the database is still the one opened.

        :raises WriterError: if it is not (``holding`` events are then not
            acknowledged); the message says what could be saved.
        """
        ...

    def verified(self) -> bool:
        """Whether :meth:`verify` would return at once (a quick look, never waiting);
        False if it must run (it then raises, or saves what it can first)."""
        ...

    async def maintain(self) -> None:
        """Housekeeping after a transaction that the writer settled in its own task (not
        after one settled at once, for a waiter or in a publisher's call: see
        ``Pipeline.express`` and ``Pipeline.settle_committed``)."""
        ...

    def backlog(self) -> int:
        """A size of the store's own backlog, for statistics (WAL frames for SQLite)."""
        ...

    def stop_by(self, deadline: float) -> None:
        """The writer must stop by ``deadline`` (anyio's clock; its drain): a store
        whose work can hang on another party (a server) bounds it by then."""
        ...


def peek_tag(data: bytes) -> str | None:
    """The type an encoded event names (its tag), if its bytes name one."""
    try:
        raw = _raw_decode(data)
    except Exception:
        return None
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        return raw[0][:64]
    return None


def encoded(message: Message) -> tuple[bytes, str]:
    """The message's bytes, and "" or why there are none: an event published in this
    process is encoded on demand, and one that cannot be encoded (a bus with no
    ``admit`` hook does not check) must still reach the dead letters."""
    try:
        return message.data, ""
    except Exception as exc:  # the encoder's refusal: any error a hostile event makes
        return b"", f"; its event cannot be encoded ({type(exc).__name__}: {exc})"


def event_name(message: Message) -> str:
    """The type of the message's event, as its bytes name it or as it is (never raises)."""
    data, _ = encoded(message)
    name = peek_tag(data)
    if name is None and not message.foreign and message.local is not None:
        name = type(message.local).__name__
    return name or "event"


def dead_letter_rows(failures: Sequence[tuple[Message, str]]) -> list[tuple[object, ...]]:
    """The ``dead_letters`` rows of ``failures`` (a message, why it cannot be stored),
    stamped now: topic, seq, event type, bytes, error, time, and the origin and cursor
    of a relay that delivered it (else None)."""
    now = time.time_ns()
    rows: list[tuple[object, ...]] = []
    for m, reason in failures:
        data, unencodable = encoded(m)
        origin = cursor = None
        if m.headers is not None and m.headers.cursor is not None:
            origin, cursor = m.headers.origin, m.headers.cursor  # a relay delivered it
        row = (m.topic, m.seq, event_name(m), data, reason + unencodable, now, origin, cursor)
        rows.append(row)
    return rows
