"""Acknowledging on JetStream what the database committed: the consumer's last stream
sequence handed to the bus, and the last acknowledged."""

from __future__ import annotations

import contextlib
import logging

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from nats.aio.msg import Msg

from eventbus import EventBus, NotStored

from ._retry import RETRYABLE

__all__ = ["Acknowledger", "Entry"]

logger = logging.getLogger("tradebus")

#: A batch to acknowledge: the bus seq to wait for, the stream seq handed, and the
#: message whose acknowledgement covers the batch (None: none to acknowledge).
Entry = tuple[int, int, Msg | None]


class Acknowledger:
    """Acknowledges each batch once ``bus`` has committed it (for the consumer named
    ``origin`` in the log), and follows how far that is."""

    def __init__(self, bus: EventBus, origin: str) -> None:
        self.bus = bus
        self.origin = origin
        #: The last stream sequence handed to the bus (or dead-lettered, or skipped).
        self.handed = 0
        #: The last stream sequence acknowledged on JetStream (committed before).
        self.acked = 0
        self._caught_up = anyio.Event()

    async def run(self, receive: MemoryObjectReceiveStream[Entry]) -> None:
        """Acknowledge the batches received, in their order, each once committed."""
        async with receive:
            async for bus_seq, handed, message in receive:
                if bus_seq:
                    with contextlib.suppress(NotStored):  # in dead_letters: committed
                        await self.bus.flush(bus_seq)
                if message is not None:
                    try:
                        await message.ack_sync(timeout=2.0)
                    except RETRYABLE as exc:  # delivered again later, and skipped then
                        logger.debug("bridge consumer %s: acknowledging: %s", self.origin, exc)
                self.acked = max(self.acked, handed)
                if self.acked >= self.handed:
                    self._caught_up.set()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds (shielded) for what was handed to be
        acknowledged."""
        with anyio.move_on_after(timeout, shield=True):
            while self.acked < self.handed:
                self._caught_up = anyio.Event()
                await self._caught_up.wait()
