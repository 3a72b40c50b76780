"""The consumer's dead letters: messages, or events of a batch, that cannot be stored,
committed to the database's ``dead_letters`` with the stream cursor; and, for each
forwarder lane, up to which of its messages the bad events are recorded.

The bad events of a lane's message are recorded after its good events are committed
(with the lane's mark, which makes any later delivery of it a copy): a failure in
between (the database away, the consumer killed) leaves them owed. The message is
delivered again (the consumer starts again before it, and the stream cursor, which
their commit moves to the message, is below it), as a copy whose number is above
what its lane recorded: its bad events alone are recorded then.
"""

from __future__ import annotations

import contextlib
import logging

from eventbus import EventBus, Headers, Message, NotStored
from writers import PostgresWriter, WriterActor

from ._errors import BridgeError

__all__ = ["DeadLetters"]

logger = logging.getLogger("tradebus")


class DeadLetters:
    """Records dead letters through ``writer`` for the consumer named ``origin`` (its
    cursor), after what it published on ``bus`` before; counts them."""

    def __init__(self, bus: EventBus, writer: WriterActor | PostgresWriter, origin: str) -> None:
        self.bus = bus
        self.writer = writer
        self.origin = origin
        #: Messages (or events) committed to ``dead_letters``.
        self.count = 0
        #: For each forwarder lane, the last message number whose bad events are
        #: known recorded (at start: all but its mark's, which a copy settles).
        self.lanes: dict[str, int] = {}

    def start(self, marks: dict[str, int]) -> None:
        """At start, with the lanes' committed ``marks``: the bad events of each
        lane's last message may be owed (if the stream cursor is below it, the run
        before ended between its good events and them); those of earlier ones not."""
        self.lanes = {origin: mark - 1 for origin, mark in marks.items()}

    def owed(self, lane: tuple[str, int]) -> bool:
        """Whether a copy of lane message ``lane`` (origin, number) delivered again
        may owe the recording of its bad events (see the module)."""
        origin, number = lane
        return number > self.lanes.get(origin, 0)

    async def record(
        self,
        subject: str,
        seq: int,
        bad: list[tuple[bytes, str]],
        *,
        after: int,
        lane: tuple[str, int] | None = None,
    ) -> None:
        """Commit ``bad`` (a message, or some events of a batch) to dead_letters with
        the stream cursor ``seq``, once what was published before (up to bus sequence
        ``after``; 0: nothing) is committed (the good events of the same batch too:
        the cursor then covers all of it); ``lane``: the forwarder lane and number of
        the message."""
        if after:
            with contextlib.suppress(NotStored):
                await self.bus.flush(after)
        failures = []
        for data, reason in bad:
            logger.warning(
                "bridge consumer %s: message %d (%s) goes to dead_letters: %s",
                self.origin, seq, subject, reason,
            )  # fmt: skip
            failure = Message.of_data(
                subject, seq, data, headers=Headers(origin=self.origin, cursor=seq)
            )
            failures.append((failure, f"from NATS: {reason}"))
        store = self.writer.pg if isinstance(self.writer, PostgresWriter) else self.writer.sqlite
        try:
            await store.record_dead_letters(failures)
        except Exception as exc:
            if store.classify(exc) != "transient":
                raise
            # The database away for a moment (PostgreSQL starting up, a lock): the
            # consumer starts again, and the message comes again.
            raise BridgeError(
                f"recording the dead letters of message {seq} failed "
                f"({type(exc).__name__}: {exc}); trying again"
            ) from exc
        self.count += len(failures)
        if lane is not None:
            origin, number = lane
            self.lanes[origin] = max(self.lanes.get(origin, 0), number)
