"""The forwarder's lanes: the items waiting in each lane (by topic), and a lane's next
NATS message: one event, or a batch of events of one subject (see :mod:`._batch`)."""

from __future__ import annotations

import zlib
from collections import deque
from typing import NamedTuple

import anyio

from ._batch import BATCH_OVERHEAD, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, pack_batch
from ._forward_window import Item
from ._names import BATCH, MSG_ID, ORIGIN, SEQ

__all__ = ["MAX_PASSED", "Lanes", "Outgoing", "batch_bytes"]

#: How many events of other subjects a lane passes over when it gathers a batch.
MAX_PASSED = 4096


class Outgoing(NamedTuple):
    """One NATS message of a lane: the bus messages it carries, its payload and
    headers (fixed once made: a retry sends the very same message)."""

    items: list[Item]
    subject: str
    payload: bytes
    headers: dict[str, str]


def batch_bytes(max_payload: int) -> int:
    """The most bytes of events a batch carries: :data:`MAX_BATCH_BYTES`, or half
    the server's ``max_payload`` if that is smaller (0: not known)."""
    return min(MAX_BATCH_BYTES, max_payload // 2) if max_payload > 0 else MAX_BATCH_BYTES


class Lanes:
    """``count`` lanes of the forwarder named ``origin`` (lane ``n`` numbers its
    messages as ``<origin>.<n>``)."""

    def __init__(self, count: int, origin: str) -> None:
        self.count = count
        self.origin = origin
        self.queues: list[deque[Item]] = [deque() for _ in range(count)]
        self._wake: list[anyio.Event] = [anyio.Event() for _ in range(count)]
        self._seq = [0] * count

    def put(self, topic: str, item: Item) -> None:
        """Queue ``item`` in the lane of ``topic``."""
        lane = zlib.crc32(topic.encode()) % self.count
        self.queues[lane].append(item)
        self._wake[lane].set()

    async def wait(self, lane: int) -> None:
        """Return once ``lane`` has an item waiting."""
        while not self.queues[lane]:
            self._wake[lane] = anyio.Event()
            await self._wake[lane].wait()

    def next_message(self, lane: int, max_payload: int) -> Outgoing:
        """The lane's next NATS message, taken out of its queue: its first waiting
        event, with, if it has no ``event_id``, the events without one of the same
        subject waiting after it (up to :data:`MAX_BATCH_EVENTS` events and about
        :func:`batch_bytes` of the server's ``max_payload``; stopping at an event of
        that subject with an ``event_id``). Events of other subjects it passes over
        keep their place: the order of each subject is kept (the order across
        subjects is not promised)."""
        queue = self.queues[lane]
        first = queue.popleft()
        items = [first]
        if first.event_id is not None or not queue:
            return self._message(lane, items)
        limit = batch_bytes(max_payload)
        size = len(first.data)
        subject = first.subject
        passed: list[Item] = []
        while queue and len(passed) < MAX_PASSED:
            item = queue[0]
            if item.subject != subject:
                passed.append(queue.popleft())
                continue
            if item.event_id is not None or len(items) >= MAX_BATCH_EVENTS:
                break
            size += len(item.data) + BATCH_OVERHEAD
            if size > limit:
                break
            items.append(queue.popleft())
        queue.extendleft(reversed(passed))
        return self._message(lane, items)

    def _message(self, lane: int, items: list[Item]) -> Outgoing:
        """``items`` as the lane's next message (numbered now: retries keep it)."""
        first = items[0]
        self._seq[lane] += 1
        seq = self._seq[lane]
        origin = f"{self.origin}.{lane}"
        headers = {
            MSG_ID: first.event_id or f"{origin}:{seq}",
            ORIGIN: origin,
            SEQ: str(seq),
        }
        if len(items) == 1:
            return Outgoing(items, first.subject, first.data, headers)
        headers[BATCH] = str(len(items))
        return Outgoing(items, first.subject, pack_batch([i.data for i in items]), headers)
