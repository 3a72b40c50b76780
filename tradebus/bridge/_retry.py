"""Trying a NATS call again: which errors are worth it, and the pause between tries."""

from __future__ import annotations

import anyio
import nats.errors
import nats.js.errors

__all__ = ["RETRYABLE", "Backoff"]

#: The errors of a call that may succeed if tried again (the server away, a timeout).
RETRYABLE = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


class Backoff:
    """A pause that doubles at each try, up to ``most`` seconds, from ``first``."""

    def __init__(self, first: float, most: float = 1.0) -> None:
        self.first = first
        self.most = most
        self.pause = first

    async def sleep(self) -> None:
        """Wait the pause, and double it for the next try."""
        await anyio.sleep(self.pause)
        self.pause = min(self.pause * 2, self.most)

    def reset(self) -> None:
        """Start again from the first pause (a call succeeded)."""
        self.pause = self.first
