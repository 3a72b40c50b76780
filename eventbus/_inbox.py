"""The buffer of one subscription and the state a publish touches (the hot path).

A :class:`~eventbus.Subscription` owns one :class:`Inbox`; the bus appends to it and
the subscription takes from it. Its attributes are public so that both sides use
them directly, without a method call per message.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import checkpoint

from ._message import Message

if TYPE_CHECKING:
    from ._subscription import Subscription

__all__ = ["NEVER", "Inbox"]

NEVER = sys.maxsize

_monotonic = time.monotonic

logger = logging.getLogger("eventbus")


class Inbox:
    """One subscription's bounded buffer, its wake-up and room signals."""

    __slots__ = (
        "append_below",
        "buffer",
        "bus_closed",
        "calling",
        "closed",
        "drop_oldest",
        "dropped",
        "first_at",
        "lent",
        "max_buffer",
        "muted_origin",
        "on_drop",
        "on_ready",
        "ready_at",
        "receivers_waiting",
        "room",
        "subscription",
        "waiter",
        "wake_at",
    )

    def __init__(
        self,
        subscription: Subscription,
        *,
        max_buffer: int,
        drop_oldest: bool,
        muted_origin: str | None,
        on_drop: Callable[[], None],
    ) -> None:
        self.subscription = subscription
        self.buffer: deque[Message[Any]] = deque()
        self.max_buffer = max_buffer
        self.drop_oldest = drop_oldest
        #: Messages whose ``headers.origin`` is this are not delivered (``echo=False``).
        self.muted_origin = muted_origin
        #: Called after a drop when someone waits for messages to be done.
        self.on_drop = on_drop
        self.first_at = 0.0  # when the oldest buffered message arrived (monotonic)
        self.waiter: anyio.Event | None = None
        self.receivers_waiting = 0
        self.wake_at = NEVER  # buffer length at which the waiting receiver is woken
        #: Called once (in the publisher's call) when a publish leaves ``ready_at`` or
        #: more messages buffered (see ``Subscription.call_when_buffered``).
        self.on_ready: Callable[[], None] | None = None
        self.ready_at = NEVER
        #: ``on_ready`` is running: what it takes is ``lent``.
        self.calling = False
        #: Messages ``on_ready`` took from a ``block`` buffer since a publisher last
        #: waited for room: they still count against ``max_buffer`` for publishers, so
        #: that a producer that never yields is held back (and yields) as often as it
        #: would be if nobody took them in its calls.
        self.lent = 0
        # Below this length a publish only appends: min(max_buffer, wake_at - 1,
        # ready_at - 1), and 0 while the buffer is empty (its first message starts the
        # batch clock), so that the publish hot path compares once.
        self.append_below = 0
        self.dropped = 0
        self.room: anyio.Event | None = None
        self.closed = False
        self.bus_closed = False

    def full_for(self, count: int) -> bool:
        """Whether ``count`` more messages would not fit (a ``block`` buffer)."""
        return len(self.buffer) + self.lent + count > self.max_buffer

    def append(self, message: Message[Any]) -> None:
        """Append ``message``: start the batch clock, drop the oldest if full (a
        ``drop_oldest`` buffer), wake a receiver waiting for this many."""
        buffer = self.buffer
        if not buffer:
            self.first_at = _monotonic()
        elif self.drop_oldest and len(buffer) >= self.max_buffer:
            buffer.popleft()
            self.dropped += 1
            self.on_drop()
        buffer.append(message)
        if len(buffer) >= self.wake_at:
            self.wake()
        elif len(buffer) == 1:
            self.append_below = self._limit()

    def _limit(self) -> int:
        return min(self.max_buffer - self.lent, self.wake_at - 1, self.ready_at - 1)

    def _reset_limit(self) -> None:
        """``append_below`` again, after what it depends on changed."""
        self.append_below = self._limit() if self.buffer else 0

    def set_wake_at(self, count: int) -> None:
        self.wake_at = count
        self._reset_limit()

    def call_when_buffered(self, count: int, callback: Callable[[], None] | None) -> None:
        """Arm (or, with ``callback`` None, disarm) the ``on_ready`` call."""
        self.on_ready = callback
        self.ready_at = NEVER if callback is None else count
        self._reset_limit()

    def call_if_ready(self) -> None:
        """Call ``on_ready`` if a publish just left ``ready_at`` messages buffered (by
        whoever delivers, once the message is in every inbox of its route); it is
        disarmed first (the callback may arm it again). What it raises is logged,
        never raised to the publisher, whose message is delivered."""
        callback = self.on_ready
        if callback is not None and len(self.buffer) >= self.ready_at:
            self.call_when_buffered(NEVER, None)
            self.calling = True
            try:
                callback()
            except Exception:  # the message is delivered: the publish must not raise
                logger.exception(
                    "subscription %r: its call_when_buffered callback raised; it is disarmed",
                    self.subscription.name,
                )
            finally:
                self.calling = False
                self._reset_limit()

    def took(self, count: int) -> None:
        """``count`` messages were taken from the buffer (see ``lent``)."""
        if self.calling and not self.drop_oldest:
            self.lent += count
        if not self.buffer:
            self.append_below = 0

    def wake(self) -> None:
        """Wake the receivers waiting for messages (they check again why they woke)."""
        waiter = self.waiter
        self.set_wake_at(NEVER)
        if waiter is not None:
            self.waiter = None
            waiter.set()

    def release_room(self) -> None:
        """Wake the publishers waiting for room (they check again why they woke)."""
        room = self.room
        if room is not None:
            self.room = None
            room.set()

    async def wait_room(self, count: int = 1) -> None:
        """Wait until ``count`` more messages fit, or the subscription or bus closes.

        A publisher waiting here lets the event loop run: what ``on_ready`` took is
        no longer held against it (``lent``)."""
        if self.lent:
            self.lent = 0
            self._reset_limit()
            await checkpoint()
        while not self.closed and not self.bus_closed and self.full_for(count):
            room = self.room
            if room is None:
                room = self.room = anyio.Event()
            await room.wait()

    def close_bus(self) -> None:
        """The bus closed: wake receivers (they drain and stop) and waiting publishers."""
        self.bus_closed = True
        self.wake()
        self.release_room()
