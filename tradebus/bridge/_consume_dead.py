"""The consumer's dead letters: messages, or events of a batch, that cannot be stored,
committed to the database's ``dead_letters`` with the stream cursor."""

from __future__ import annotations

import contextlib
import logging

from eventbus import EventBus, Headers, Message, NotStored
from writers import PostgresWriter, WriterActor

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

    async def record(
        self, subject: str, seq: int, bad: list[tuple[bytes, str]], *, after: int
    ) -> None:
        """Commit ``bad`` (a message, or some events of a batch) to dead_letters with
        the stream cursor ``seq``, once what was published before (up to bus sequence
        ``after``; 0: nothing) is committed (the good events of the same batch too:
        the cursor then covers all of it)."""
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
        if isinstance(self.writer, PostgresWriter):
            await self.writer.pg.record_dead_letters(failures)
        else:
            await self.writer.sqlite.record_dead_letters(failures)
        self.count += len(failures)
