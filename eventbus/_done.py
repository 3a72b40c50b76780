"""Who waits for a subscription's messages to be done (acknowledged or dropped).

Flushes and ``publish(..., wait=True)`` wait here, each for every message up to one
seq. While they wait, the subscription's receiver is hurried: a batch that would wait
to fill takes what is buffered instead.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import anyio

from ._exceptions import BusClosed
from ._message import Message
from ._outcomes import because

__all__ = ["DoneWaiters"]


class DoneWaiters:
    """The waiters of one subscription, and why its unacknowledged messages are lost."""

    __slots__ = ("abandoned_from", "error", "hurrying", "waiters")

    def __init__(self) -> None:
        #: (seq, event) for each waiter: set once every message up to seq is done.
        self.waiters: list[tuple[int, anyio.Event]] = []
        #: The seqs that waiters wait for, while they wait.
        self.hurrying: list[int] = []
        #: The oldest message a durable subscription discarded unacknowledged when it
        #: closed, and why it closed (a consumer that failed).
        self.abandoned_from: float = math.inf
        self.error: BaseException | None = None

    def hurried(self, buffer: deque[Message[Any]]) -> bool:
        """Whether a buffered message is waited for: its batch should not wait to fill."""
        hurrying = self.hurrying
        return bool(buffer) and bool(hurrying) and buffer[0].seq <= max(hurrying)

    def release(self, oldest: float) -> None:
        """Wake the waiters whose messages are all older than ``oldest`` (the oldest
        message not done yet; ``math.inf`` when none is left)."""
        keep: list[tuple[int, anyio.Event]] = []
        for target, event in self.waiters:
            if oldest > target:
                event.set()
            else:
                keep.append((target, event))
        self.waiters = keep

    async def wait(self, seq: int) -> None:
        """Wait for the next :meth:`release` that covers ``seq``."""
        event = anyio.Event()
        self.waiters.append((seq, event))
        await event.wait()

    def check_stored(self, name: str, seq: int) -> None:
        """:raises BusClosed: if the subscription closed before it acknowledged a message
        up to ``seq`` (those are not stored)."""
        if self.abandoned_from <= seq:
            raise BusClosed(
                f"subscription {name!r} was closed before it acknowledged message "
                f"{int(self.abandoned_from)}; messages up to {seq} were not all stored"
                + because(self.error)
            ) from self.error
