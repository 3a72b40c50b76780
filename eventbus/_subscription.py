"""A subscription: one bounded buffer of messages for one consumer."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

from ._done import DoneWaiters
from ._exceptions import BusClosed
from ._inbox import NEVER, Inbox
from ._message import Message
from ._outcomes import Ledger
from ._statistics import Overflow, SubscriptionStatistics
from ._topics import Pattern

__all__ = ["Overflow", "Subscription", "SubscriptionStatistics"]

_monotonic = time.monotonic
_popleft = deque.popleft


class Subscription:
    """Receives the messages whose topic matches its patterns, in publish order.

    Created by :meth:`EventBus.subscribe`. Consume with ``async for message in sub``
    (each message is acknowledged when the next one is asked for) or with
    :meth:`receive_batch` followed by :meth:`ack` once the batch is processed.
    A loop left with ``break`` has not acknowledged its last message: :meth:`ack` it
    or :meth:`close` the subscription, or :meth:`EventBus.flush` waits for it.

    A ``durable`` subscription's acknowledgement means the message is stored
    (committed): a flush and a ``publish(..., wait=True)`` wait for the durable
    subscriptions only, and one that closes without acknowledging what it received
    makes them raise :class:`BusClosed` (those messages are not stored).

    The members of an atomic group (``publish_many*``) that it receives are
    consecutive in its buffer, and :meth:`receive_batch` never splits them.

    A consumer may set :attr:`assist` to let those who wait for its messages do its
    work while it is idle (see :meth:`wait_done`).
    """

    def __init__(
        self,
        *,
        name: str,
        patterns: tuple[Pattern, ...],
        max_buffer: int,
        overflow: Overflow,
        durable: bool,
        echo: bool = True,
        ledger: Ledger,
        on_close: Callable[[Subscription, float, BaseException | None], None],
    ) -> None:
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be >= 1, got {max_buffer}")
        if overflow not in ("block", "drop_oldest"):
            raise ValueError(f"overflow must be 'block' or 'drop_oldest', got {overflow!r}")
        self.name = name
        self.patterns = patterns
        self.overflow: Overflow = overflow
        #: Its acknowledgement means the message is stored (see the class docstring).
        self.durable = durable
        #: Whether it receives the messages published with its own name as origin.
        self.echo = echo
        self._ledger = ledger
        self._on_close = on_close
        #: The buffer and the state a publish touches.
        self.inbox = Inbox(
            self,
            max_buffer=max_buffer,
            drop_oldest=overflow == "drop_oldest",
            muted_origin=None if echo else name,
            on_drop=self._dropped_one,
        )
        # Consumer side.
        self._in_flight: deque[Message[Any]] = deque()
        self._received = 0
        self._acknowledged = 0
        self._high_water = 0
        self._iter_pending = 0
        self._done = DoneWaiters()
        #: Set by the consumer: called by :meth:`wait_done` (in the waiter's task, and
        #: synchronously) when a message the waiter waits for is buffered, before it
        #: waits. The consumer may take and acknowledge messages there, when it is idle,
        #: so that a lone waiter is not first handed to the consumer's task and back. It
        #: must not raise, nor take what it cannot finish in order.
        self.assist: Callable[[], None] | None = None

    @property
    def max_buffer(self) -> int:
        """How many messages may wait in the buffer."""
        return self.inbox.max_buffer

    # ------------------------------------------------------------------ receiving

    def receive_nowait(self) -> Message[Any]:
        """Take the oldest buffered message.

        :raises anyio.WouldBlock: if none is buffered.
        :raises BusClosed: if the subscription is closed, or the bus is and it is drained.
        """
        batch = self._take(1, whole_groups=False)
        if not batch:
            raise anyio.WouldBlock
        return batch[0]

    def receive_batch_nowait(self, max_items: int = 1000) -> list[Message[Any]]:
        """Take up to ``max_items`` buffered messages (an empty list if none is), and
        more if needed to finish an atomic group the batch started.

        :raises BusClosed: if the subscription is closed, or the bus is and it is drained.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        return self._take(max_items)

    def call_when_buffered(self, count: int, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once, in the publisher's call, when a publish leaves
        ``count`` or more messages buffered (once it reached every subscription);
        ``callback=None`` disarms it. The callback may arm it again.

        For a consumer that hands on work without its task running (a producer that
        never yields keeps it from running). It may take messages
        (:meth:`receive_batch_nowait`) and acknowledge them; those it takes from a
        ``block`` buffer still count against ``max_buffer`` until a publisher waits
        for room, so that the producer yields as often as without it. What it
        raises is logged (logger ``eventbus``) and disarms it; the publish returns.
        """
        if callback is not None and not 1 <= count <= self.max_buffer:
            raise ValueError(f"count must be from 1 to max_buffer ({self.max_buffer}), got {count}")
        self.inbox.call_when_buffered(count, callback)

    def unacknowledged(self) -> list[Message[Any]]:
        """The messages received and not yet acknowledged, oldest first."""
        return list(self._in_flight)

    async def receive(self) -> Message[Any]:
        """Wait for the next message and return it.

        :raises BusClosed: if the subscription is closed, or the bus is and it is drained.
        """
        batch = await self._receive(1, 0.0, whole_groups=False)
        return batch[0]

    async def receive_batch(
        self, max_items: int = 1000, max_wait: float = 0.05
    ) -> list[Message[Any]]:
        """Wait for a first message, then return up to ``max_items`` messages.

        Returns as soon as ``max_items`` are buffered, or when the oldest of them has
        waited ``max_wait`` seconds since it was published, or when someone waits for a
        buffered message to be done (:meth:`wait_done`, so a flush or a
        ``publish(wait=True)``), whichever comes first; on a closed bus, at once with
        what is left. A batch that ends inside an atomic group is extended past
        ``max_items`` to the group's last member (a group is never split).

        :raises BusClosed: if the subscription is closed, or the bus is and it is drained.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        return await self._receive(max_items, max_wait, whole_groups=True)

    async def _receive(
        self, max_items: int, max_wait: float, *, whole_groups: bool
    ) -> list[Message[Any]]:
        await checkpoint()
        inbox = self.inbox
        buffer = inbox.buffer
        while True:
            if not buffer:
                await self._wait_for(1, math.inf)
            if len(buffer) < max_items and not inbox.bus_closed:
                remaining = inbox.first_at + max_wait - _monotonic()
                if remaining > 0:
                    await self._wait_for(max_items, remaining)
            batch = self._take(max_items, whole_groups=whole_groups)
            if batch:
                return batch
            # Another receiver of this subscription took what was there: wait again.

    async def _wait_for(self, count: int, seconds: float) -> None:
        """Wait until ``count`` messages are buffered, at most ``seconds``.

        Receivers waiting together share one event, woken at the smallest count any
        of them waits for; each then checks its own count again.
        """
        inbox = self.inbox
        deadline = anyio.current_time() + seconds
        inbox.receivers_waiting += 1
        try:
            while (
                len(inbox.buffer) < count
                and not inbox.closed
                and not inbox.bus_closed
                and not self._done.hurried(inbox.buffer)
            ):
                waiter = inbox.waiter
                if waiter is None:
                    waiter = inbox.waiter = anyio.Event()
                if count < inbox.wake_at:
                    inbox.set_wake_at(count)
                with anyio.move_on_at(deadline) as scope:
                    await waiter.wait()
                if scope.cancelled_caught:
                    return
        finally:
            inbox.receivers_waiting -= 1
            if not inbox.receivers_waiting:
                inbox.waiter = None
                inbox.set_wake_at(NEVER)

    def _dropped_one(self) -> None:
        if self._done.waiters:
            self._release_done()

    def _take(self, max_items: int, *, whole_groups: bool = True) -> list[Message[Any]]:
        inbox = self.inbox
        if inbox.closed:
            raise BusClosed(f"subscription {self.name!r} is closed")
        buffer = inbox.buffer
        n = len(buffer)
        if n == 0:
            if inbox.bus_closed:
                raise BusClosed(f"the bus is closed and subscription {self.name!r} is drained")
            return []
        if n > self._high_water:
            self._high_water = n
        if n <= max_items:
            batch = list(buffer)
            buffer.clear()
        else:
            batch = list(map(_popleft, repeat(buffer, max_items)))  # a loop in C
            group = batch[-1].envelope.group
            if group and whole_groups:  # finish the group: its members are consecutive
                while buffer and buffer[0].envelope.group == group:
                    batch.append(buffer.popleft())
            # The leftovers arrived before now; counting their wait from now errs late
            # by at most the time the previous batch took.
            inbox.first_at = _monotonic()
        inbox.took(len(batch))
        self._in_flight.extend(batch)
        self._received += len(batch)
        inbox.release_room()
        return batch

    # ------------------------------------------------------------ acknowledgement

    def ack(self, count: int = 1, *, failed: Mapping[int, str] | None = None) -> None:
        """Mark the ``count`` oldest received messages as done (for a durable
        subscription: stored).

        ``failed`` maps the seq of each of them that was processed but not stored (for
        a writer: moved to dead_letters) to the reason. The publisher waiting for such
        a message, or else the next flush that covers it, raises
        :class:`~eventbus.NotStored` instead of returning.

        :raises ValueError: if fewer than ``count`` messages are received and
            unacknowledged, or ``failed`` names a message that is not among them.
        """
        in_flight = self._in_flight
        if not 0 <= count <= len(in_flight):
            raise ValueError(
                f"cannot acknowledge {count} messages: {len(in_flight)} are received "
                f"and not yet acknowledged on subscription {self.name!r}"
            )
        if failed:
            self._record_failed(count, failed)
        if count == len(in_flight):
            in_flight.clear()
        else:
            deque(map(_popleft, repeat(in_flight, count)), maxlen=0)  # a loop in C
        self._acknowledged += count
        if self._done.waiters:
            self._release_done()

    def _record_failed(self, count: int, failed: Mapping[int, str]) -> None:
        acknowledged = [m for _, m in zip(range(count), self._in_flight, strict=False)]
        failures = [m for m in acknowledged if m.seq in failed]
        if len(failures) != len(failed):
            known = {m.seq for m in acknowledged}
            unknown = sorted(seq for seq in failed if seq not in known)
            raise ValueError(
                f"cannot report messages {unknown} as failed: they are not among the "
                f"{count} acknowledged on subscription {self.name!r}"
            )
        self._ledger.record(self.name, failures, failed)

    def _oldest_pending_seq(self) -> float:
        if self._in_flight:
            return self._in_flight[0].seq
        buffer = self.inbox.buffer
        if buffer:
            return buffer[0].seq
        return math.inf

    def _release_done(self) -> None:
        self._done.release(math.inf if self.inbox.closed else self._oldest_pending_seq())

    async def wait_done(self, seq: int) -> None:
        """Wait until every message up to ``seq`` has been acknowledged (or dropped).

        If the oldest buffered message is one a waiter waits for, the consumer's
        :attr:`assist` is called first, and a receiver filling a batch takes what is
        buffered at once instead of waiting for more.

        :raises BusClosed: if this is a durable subscription and it was closed before
            acknowledging one of them (it was not stored: do not report it done).
        """
        done, inbox = self._done, self.inbox
        done.hurrying.append(seq)
        try:
            if done.hurried(inbox.buffer):
                if self.assist is not None:
                    self.assist()  # an idle consumer's work, done here
                if done.hurried(inbox.buffer):
                    inbox.wake()  # a receiver filling a batch takes what is there now
            while not inbox.closed and self._oldest_pending_seq() <= seq:
                await done.wait(seq)
        finally:
            done.hurrying.remove(seq)
        done.check_stored(self.name, seq)

    # -------------------------------------------------------------------- iterate

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message[Any]:
        if self._iter_pending:
            self.ack(self._iter_pending)
            self._iter_pending = 0
        try:
            message = await self.receive()
        except BusClosed:
            raise StopAsyncIteration from None
        self._iter_pending = 1
        return message

    # ---------------------------------------------------------------------- close

    @property
    def closed(self) -> bool:
        return self.inbox.closed

    def close(self, *, error: BaseException | None = None) -> None:
        """Stop receiving: drop this subscription from the bus and discard its buffer.

        Waiting receivers get :class:`BusClosed`; flushes stop waiting for it. When a
        durable subscription closes with messages unacknowledged, or with ``error``
        (its consumer failed), those messages are not stored: those who wait for
        them, and every later flush that covers them, raise :class:`BusClosed`
        (caused by ``error``) instead of returning; if it failed, its topics are
        refused until another durable subscription takes them.
        """
        inbox = self.inbox
        if inbox.closed:
            return
        inbox.closed = True
        done = self._done
        done.error = error
        if self.durable:
            done.abandoned_from = self._oldest_pending_seq()
        self._on_close(self, done.abandoned_from, error)
        inbox.buffer.clear()
        inbox.took(0)
        self._in_flight.clear()
        self._iter_pending = 0  # what `async for` would acknowledge next is gone
        inbox.wake()
        inbox.release_room()
        self._release_done()

    def statistics(self) -> SubscriptionStatistics:
        """Return the subscription's counters."""
        inbox = self.inbox
        buffered = len(inbox.buffer)
        return SubscriptionStatistics(
            name=self.name,
            patterns=tuple(p.text for p in self.patterns),
            overflow=self.overflow,
            max_buffer=inbox.max_buffer,
            buffered=buffered,
            in_flight=len(self._in_flight),
            high_water=max(self._high_water, buffered),
            delivered=self._received + buffered + inbox.dropped,
            received=self._received,
            acknowledged=self._acknowledged,
            dropped=inbox.dropped,
        )

    def __repr__(self) -> str:
        patterns = ", ".join(p.text for p in self.patterns)
        return f"<Subscription {self.name!r} [{patterns}] buffered={len(self.inbox.buffer)}>"
