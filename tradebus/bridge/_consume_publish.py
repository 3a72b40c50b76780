"""How the consumer puts a batch's events on the node's bus: in groups that fit the
writer's buffer, each with the cursor its writer commits with it.

The events of a forwarder lane (messages without an ``event_id``) go in a group of
their lane, whose cursor is the lane's high-water mark. Each other message's events
go after them in a group of their own, in stream order, with the stream cursor of
that message: the writer stores or refuses a group whole, so an event it refuses
takes no other message's events with it, and the stream cursor, committed with each
message (or with its dead letters), only grows and never covers a message not
committed yet (the lanes' groups go first: the cursor is committed with or after
them).
"""

from __future__ import annotations

from eventbus import BusFull, EventBus, Headers
from schemas import Event

from ._consume_acks import Acknowledger
from ._consume_names import consumer_origin, tick_origin

__all__ = ["BusPublisher", "Segment"]


class BusPublisher:
    """Publishes groups of events on ``bus`` for ``stream``'s consumer ``durable``,
    with their cursors; at most ``group_limit`` events are taken in one segment."""

    def __init__(self, bus: EventBus, stream: str, durable: str, group_limit: int) -> None:
        self.bus = bus
        self.stream = stream
        self.durable = durable
        self.origin = consumer_origin(stream, durable)
        self.group_limit = group_limit
        #: Each forwarder lane's high-water mark: its last message handed to the bus.
        self.marks: dict[str, int] = {}
        #: The bus sequence of the last event published (0: none yet).
        self.last_bus_seq = 0
        #: Events published on the bus.
        self.consumed = 0

    async def publish(
        self, lanes: dict[str, list[Event]], others: list[tuple[list[Event], int]]
    ) -> None:
        """Publish a segment's events: each lane's group (with its high-water mark),
        then each other message's events (with its stream sequence), in order."""
        groups = [
            (events, Headers(origin=tick_origin(self.stream, self.durable, origin),
                             cursor=self.marks[origin]))
            for origin, events in lanes.items()
        ]  # fmt: skip
        groups.extend((events, Headers(origin=self.origin, cursor=seq)) for events, seq in others)
        for events, headers in groups:
            await self._publish(events, headers)

    async def _publish(self, events: list[Event], headers: Headers) -> None:
        """Publish ``events`` as one group (one event: alone, the same and cheaper)."""
        bus = self.bus
        if len(events) == 1:
            try:
                last = bus.publish_nowait(events[0], headers=headers)
            except BusFull:
                last = await bus.publish(events[0], headers=headers)
        else:
            try:
                last = bus.publish_many_nowait(events, headers=headers)[-1]
            except BusFull:
                last = (await bus.publish_many(events, headers=headers))[-1]
        self.last_bus_seq = last
        self.consumed += len(events)


class Segment:
    """The events of a run of a batch's messages, gathered to be published together
    by ``publisher``: each lane's, and each other message's (with its sequence).

    A message is taken (``taken``) before its events are published: it counts as
    handed on (``acks.handed``, where the consumer starts again if asking the server
    fails) only once they are, and its lane's mark moves only then too; events that
    were gathered and not published come again from the stream, not skipped.
    """

    def __init__(self, publisher: BusPublisher, acks: Acknowledger) -> None:
        self.publisher = publisher
        self.acks = acks
        self.lanes: dict[str, list[Event]] = {}
        self.others: list[tuple[list[Event], int]] = []
        #: How many events were gathered.
        self.gathered = 0
        #: The lanes' marks of the messages gathered (the publisher's once published).
        self.marks: dict[str, int] = {}
        #: The last stream sequence taken: gathered, or passed over with nothing to publish.
        self.taken = acks.handed

    def mark(self, origin: str) -> int:
        """Forwarder lane ``origin``'s high-water mark, with the messages gathered."""
        return self.marks.get(origin, self.publisher.marks.get(origin, 0))

    def pass_over(self, seq: int) -> None:
        """Message ``seq`` was taken with nothing to publish (a copy, a dead letter):
        handed on at once if nothing gathered waits before it, else with them."""
        self.taken = seq
        if not self.lanes and not self.others:
            self.acks.handed = seq

    async def add(self, lane: tuple[str, int] | None, events: list[Event], seq: int) -> None:
        """Add the events of message ``seq`` (``lane``: the forwarder lane and number
        that numbered it), publishing first what was gathered if all would not fit
        the writer's buffer."""
        if self.gathered + len(events) > self.publisher.group_limit:
            await self._publish()  # groups fit the buffer
        if lane is not None:
            origin, number = lane
            self.marks[origin] = number
            self.lanes.setdefault(origin, []).extend(events)
        else:
            self.others.append((events, seq))
        self.gathered += len(events)
        self.taken = seq

    async def publish(self, *, holding: int = 0) -> None:
        """Publish what was gathered, and start a new segment. ``holding``: the
        last message taken, published but not handed on yet (its bad events'
        dead letters come next: if they fail, it is delivered again, a copy
        whose dead letters are owed)."""
        await self._publish()
        if holding:
            self.acks.handed = holding - 1

    async def _publish(self) -> None:
        """Publish what was gathered: the messages taken are handed on."""
        publisher = self.publisher
        publisher.marks.update(self.marks)
        await publisher.publish(self.lanes, self.others)
        self.lanes, self.others, self.marks, self.gathered = {}, [], {}, 0
        self.acks.handed = self.taken
