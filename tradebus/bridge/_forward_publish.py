"""Publishing a lane's NATS message to JetStream, again and again until it is stored
(or can never be); counting what JetStream answered."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sized

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from ._errors import BridgeError
from ._forward_lanes import Outgoing
from ._retry import RETRYABLE, Backoff

__all__ = ["FIRST_PAUSE", "MAX_PAUSE", "Publisher"]

logger = logging.getLogger("tradebus")

#: Pause before the first retry of a publish, and the longest (seconds).
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0


class Publisher:
    """Publishes for the forwarder named ``origin``, each try waiting ``timeout``
    seconds; ``ensure_streams`` makes the streams again (the server may come back
    without them); ``in_flight`` (its size) is logged with a retry."""

    def __init__(
        self,
        origin: str,
        timeout: float,
        ensure_streams: Callable[[], Awaitable[None]],
        in_flight: Sized,
    ) -> None:
        self.origin = origin
        self.timeout = timeout
        self.ensure_streams = ensure_streams
        self.in_flight = in_flight
        #: Events JetStream acknowledged, of them the duplicates, and NATS messages.
        self.acked = self.duplicates = self.messages = 0
        #: Publishes tried again, and events that can never be published.
        self.retries = self.failed = 0
        self._logged_at = 0.0

    async def publish(self, js: JetStreamContext, outgoing: Outgoing) -> None:
        """Publish ``outgoing`` until JetStream acknowledges it (or it can never be)."""
        backoff = Backoff(FIRST_PAUSE, MAX_PAUSE)
        subject, payload, headers = outgoing.subject, outgoing.payload, outgoing.headers
        while True:
            try:
                ack = await js.publish(subject, payload, timeout=self.timeout, headers=headers)
            except nats.errors.MaxPayloadError as exc:
                for item in outgoing.items:
                    item.failed = f"not forwarded to NATS: {exc}"
                self.failed += len(outgoing.items)
                return
            except RETRYABLE as exc:
                self.retries += 1
                self._log_retry(subject, exc)
                if isinstance(exc, nats.js.errors.NoStreamResponseError):
                    try:  # the server may have come back without its streams
                        await self.ensure_streams()
                    except (*RETRYABLE, BridgeError) as again:
                        logger.debug("bridge forwarder: %s", again)
                await backoff.sleep()
                continue
            self.acked += len(outgoing.items)
            self.messages += 1
            if ack.duplicate:
                self.duplicates += len(outgoing.items)
            return

    def _log_retry(self, subject: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged_at >= 5.0:
            self._logged_at = now
            logger.warning(
                "bridge forwarder %s: publishing to %s failed (%s: %s); trying again "
                "(%d in flight)",
                self.origin, subject, type(exc).__name__, exc, len(self.in_flight),
            )  # fmt: skip
