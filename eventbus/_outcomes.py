"""What consumers reported as not done: failed messages and abandoned subscriptions.

A consumer acknowledges a message once it has processed it; a durable consumer (a
writer), whose acknowledgement means the message is stored, may add that it could
not store some of them (``ack(..., failed=...)``), or close without acknowledging
what it holds (it failed: those are not stored). The bus keeps that record
here, so that a waiting publisher and the next flushes learn of it instead of
returning as if everything was stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from ._exceptions import BusClosed, NotStored
from ._message import Message
from ._topics import Pattern

__all__ = ["Ledger", "because"]

#: Failures kept for flushes that have not reported them yet; beyond, only counted.
MAX_FAILURES = 1_000
#: Failed durable subscriptions remembered for refusing their topics.
MAX_DEAD = 100
_MAX_REASON = 500


class _Failure(NamedTuple):
    seq: int
    topic: str
    event_type: str
    reason: str
    subscription: str

    def error(self, more: int = 0) -> NotStored:
        return NotStored(
            event_type=self.event_type,
            topic=self.topic,
            seq=self.seq,
            reason=self.reason,
            subscription=self.subscription,
            more=more,
        )


class _Dead(NamedTuple):
    name: str
    patterns: tuple[Pattern, ...]
    error: BaseException


class Ledger:
    """The bus's record of messages acknowledged as not stored, and of abandonment.

    Each failure is reported once: to the publisher waiting for that message if
    there is one (it is *watched*), else to the next flush that covers it. Unwatched
    failures are kept up to :data:`MAX_FAILURES`; older ones are dropped and counted,
    and the next flush reports them by number.
    """

    def __init__(self) -> None:
        self._unreported: dict[int, _Failure] = {}
        self._for_waiters: dict[int, _Failure] = {}
        self._watched: dict[int, int] = {}  # seq -> publishers waiting for it
        self._dropped = 0
        self._dropped_from = math.inf
        #: The first message a durable subscription abandoned (closed unacknowledged).
        self.abandoned_from: float = math.inf
        self._abandoned_by = ""
        self._abandoned_error: BaseException | None = None
        self._dead: list[_Dead] = []

    @property
    def dropped(self) -> int:
        """Failures dropped from the record (too many unreported at once)."""
        return self._dropped

    # ----------------------------------------------------------------- failures

    def record(
        self, subscription: str, messages: Iterable[Message[Any]], reasons: Mapping[int, str]
    ) -> None:
        """Record that ``messages`` (acknowledged by ``subscription``) were not stored."""
        for message in messages:
            failure = _Failure(
                message.seq,
                message.topic,
                _event_type(message),
                str(reasons[message.seq])[:_MAX_REASON],
                subscription,
            )
            if message.seq in self._watched:
                self._for_waiters.setdefault(message.seq, failure)
            else:
                self._keep(failure)

    def _keep(self, failure: _Failure) -> None:
        unreported = self._unreported
        if failure.seq in unreported:
            return
        if len(unreported) >= MAX_FAILURES:
            oldest = next(iter(unreported))
            del unreported[oldest]
            self._dropped += 1
            self._dropped_from = min(self._dropped_from, oldest)
        unreported[failure.seq] = failure

    def watch(self, seq: int) -> None:
        """A publisher waits for message ``seq``: its failure is kept for it."""
        self._watched[seq] = self._watched.get(seq, 0) + 1

    def unwatch(self, seq: int, *, report: bool) -> NotStored | None:
        """A publisher stopped waiting for ``seq``; return its failure if ``report``.

        Other publishers still waiting for ``seq`` get the failure too. When the last
        one leaves without taking it (``report=False``: it was cancelled), the next
        flush reports it instead.
        """
        failure = self._unwatch(seq, report=report)
        return failure.error() if failure is not None else None

    def unwatch_all(self, seqs: Iterable[int], *, report: bool) -> NotStored | None:
        """:meth:`unwatch` for each of ``seqs``: their failures as one error (the
        first's, whose ``more`` counts the others), if ``report``."""
        failures = [f for f in (self._unwatch(seq, report=report) for seq in seqs) if f]
        return failures[0].error(more=len(failures) - 1) if failures else None

    def _unwatch(self, seq: int, *, report: bool) -> _Failure | None:
        left = self._watched[seq] - 1
        if left:
            self._watched[seq] = left
            failure = self._for_waiters.get(seq)
        else:
            del self._watched[seq]
            failure = self._for_waiters.pop(seq, None)
            if failure is not None and not report:
                self._keep(failure)
        return failure if report else None

    def take_upto(self, seq: int) -> NotStored | None:
        """The failures up to ``seq`` no one was told of, as one error (or None)."""
        unreported = self._unreported
        failures = [f for s, f in unreported.items() if s <= seq]
        dropped = self._dropped if self._dropped_from <= seq else 0
        if dropped:
            self._dropped_from = math.inf
            self._dropped = 0
        if not failures and not dropped:
            return None
        for failure in failures:
            del unreported[failure.seq]
        if not failures:
            return NotStored(
                event_type="event",
                topic="?",
                seq=seq,
                reason=(
                    f"{dropped} messages up to seq {seq} were not stored; too many "
                    "failures went unreported to keep their details"
                ),
                subscription="?",
            )
        return failures[0].error(more=len(failures) - 1 + dropped)

    # -------------------------------------------------------------- abandonment

    def abandon(
        self,
        name: str,
        patterns: tuple[Pattern, ...],
        first: float,
        error: BaseException | None,
    ) -> None:
        """A durable subscription closed with messages from ``first`` unacknowledged,
        or failed (``error``): flushes that cover them raise, and if it failed, its
        topics are refused until another durable subscription takes them."""
        if first < self.abandoned_from:
            self.abandoned_from = first
            self._abandoned_by = name
            self._abandoned_error = error
        if error is not None and len(self._dead) < MAX_DEAD:
            self._dead.append(_Dead(name, patterns, error))

    def check_abandoned(self, seq: int) -> None:
        """Raise :class:`BusClosed` if a message up to ``seq`` was abandoned."""
        if self.abandoned_from <= seq:
            raise BusClosed(
                f"subscription {self._abandoned_by!r} closed before it acknowledged message "
                f"{int(self.abandoned_from)}; messages up to {seq} were not all stored"
                + because(self._abandoned_error)
            ) from self._abandoned_error

    def check_topic(self, topic: str) -> None:
        """Raise :class:`BusClosed` if the durable subscription of ``topic`` failed.

        Call only when no live durable subscription takes ``topic``.
        """
        for dead in self._dead:
            if any(p.matches(topic) for p in dead.patterns):
                raise BusClosed(
                    f"cannot publish {topic!r}: subscription {dead.name!r}, which stored "
                    f"it, failed{because(dead.error)}; nothing was delivered"
                ) from dead.error

    def closed_error(self) -> BusClosed:
        """The error of a publish to a closed bus, caused by a failed subscription if any."""
        error = BusClosed("cannot publish: the bus is closed")
        error.__cause__ = self._dead[0].error if self._dead else None
        return error


def because(error: BaseException | None) -> str:
    """`` (Type: message)`` naming ``error``, or nothing without one."""
    return "" if error is None else f" ({type(error).__name__}: {error})"


def _event_type(message: Message[Any]) -> str:
    """The type of the message's event: the local object's, or the encoded tag."""
    if not message.foreign and message.local is not None:
        return type(message.local).__name__
    try:
        raw = msgspec.msgpack.decode(message.data)
    except Exception:
        return "event"
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        return raw[0][:64]
    return "event"
