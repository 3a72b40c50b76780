"""Messages of a stream the consumer was not delivered: finding the first one before
a message delivered, and reading one the server never delivers from the stream
directly."""

from __future__ import annotations

import datetime
import logging

import anyio
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

__all__ = ["UNDELIVERABLE_AFTER", "Gaps"]

logger = logging.getLogger("tradebus")

#: How many times in a row one message may be found not delivered before it is taken
#: for one the server never delivers (a dead letter).
UNDELIVERABLE_AFTER = 3


class Gaps:
    """The missed deliveries of ``stream``'s consumer ``durable`` (named ``origin`` in
    the log), and how many times in a row the same one was missed."""

    def __init__(self, stream: str, durable: str, origin: str) -> None:
        self.stream = stream
        self.durable = durable
        self.origin = origin
        #: The message last found not delivered, and how many times in a row.
        self.missing = 0
        self.misses = 0

    async def first_missing(self, js: JetStreamContext, handed: int, seq: int) -> int | None:
        """The first message between the last ``handed`` and ``seq`` that exists (and
        so was not delivered, or delivered and lost), rather than deleted from the
        stream; None if there is none."""
        info = await js.stream_info(self.stream)
        for missing in range(max(handed + 1, info.state.first_seq), seq):
            try:
                await js.get_msg(self.stream, missing)
            except nats.js.errors.NotFoundError:
                continue
            logger.warning(
                "bridge consumer %s: message %d was not delivered before %d: starting again "
                "after %d", self.origin, missing, seq, handed,
            )  # fmt: skip
            return missing
        return None

    async def not_delivered(self, js: JetStreamContext, client: Client, missing: int) -> Msg | None:
        """A message that exists was not delivered: wait a little longer each time
        (a restart deletes and makes the consumer again: never in a tight loop) and
        return None. The third time in a row for the same message, it is one the
        server will not deliver through the consumer (its stored headers read as a
        NATS status line, say): it is read from the stream directly and returned as
        a delivered one (with an empty subject if it cannot be read: a dead letter in
        its place); None if it was deleted meanwhile (a gap like any other)."""
        self.misses = self.misses + 1 if self.missing == missing else 1
        self.missing = missing
        if self.misses < UNDELIVERABLE_AFTER:
            await anyio.sleep(min(0.05 * 2**self.misses, 1.0))
            return None
        self.misses = 0
        try:
            raw = await js.get_msg(self.stream, missing)
            subject, data, headers = raw.subject or "", raw.data or b"", raw.headers
        except nats.js.errors.NotFoundError:
            return None  # deleted meanwhile: a gap like any other
        except Exception as exc:  # its headers may not even parse
            subject, data, headers = "", b"", None
            logger.warning("bridge consumer %s: reading %d: %s", self.origin, missing, exc)
        logger.warning(
            "bridge consumer %s: message %d is never delivered by the server: read directly",
            self.origin, missing,
        )  # fmt: skip
        return Msg(
            client,
            subject=subject,
            data=data,
            headers=headers,
            _metadata=Msg.Metadata(
                sequence=Msg.Metadata.SequencePair(stream=missing, consumer=0),
                num_pending=0,
                num_delivered=1,
                timestamp=datetime.datetime.now(datetime.UTC),
                stream=self.stream,
                consumer=self.durable,
            ),
        )
