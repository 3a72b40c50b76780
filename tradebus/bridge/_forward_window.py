"""The forwarder's window: the bus messages taken and not yet acknowledged on the bus,
in bus order; the oldest that are done are acknowledged (as stored, or as failed)."""

from __future__ import annotations

from collections import deque

import anyio

from eventbus import Subscription

__all__ = ["Item", "Window"]


class Item:
    """One bus message on its way: its subject, bytes and ``event_id``, and how it
    ended."""

    __slots__ = ("data", "done", "event_id", "failed", "seq", "subject")

    def __init__(self, seq: int, subject: str, data: bytes, event_id: str | None) -> None:
        self.seq = seq
        self.subject = subject
        self.data = data
        self.event_id = event_id
        self.done = False
        self.failed: str | None = None


class Window:
    """The items taken from the bus and not yet acknowledged on it, oldest first."""

    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        self._room = anyio.Event()
        self._empty = anyio.Event()

    def __len__(self) -> int:
        return len(self.items)

    def append(self, item: Item) -> None:
        """Take ``item`` in, after the others."""
        self.items.append(item)

    async def wait_for_room(self) -> None:
        """Return once some items are acknowledged."""
        self._room = anyio.Event()
        await self._room.wait()

    async def wait_for_empty(self, most: float) -> None:
        """Return once the window is emptied, or after ``most`` seconds."""
        self._empty = anyio.Event()
        with anyio.move_on_after(most):
            await self._empty.wait()

    def advance(self, subscription: Subscription) -> None:
        """Acknowledge on ``subscription`` the oldest items that are done."""
        window = self.items
        count = 0
        failed: dict[int, str] = {}
        for item in window:
            if not item.done:
                break
            if item.failed is not None:
                failed[item.seq] = item.failed
            count += 1
        if not count:
            return
        for _ in range(count):
            window.popleft()
        if not subscription.closed:
            subscription.ack(count, failed=failed or None)
        self._room.set()
        if not window:
            self._empty.set()
