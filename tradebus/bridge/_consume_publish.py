"""How the consumer puts a batch's events on the node's bus: in groups that fit the
writer's buffer, each with the cursor its writer commits with it.

The events of a forwarder lane (messages without an ``event_id``) go in a group of
their lane, whose cursor is the lane's high-water mark; the others go after them with
the stream cursor (the last sequence of the segment), so that the stream cursor is
committed with or after the lanes' groups.
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

    async def publish(self, lanes: dict[str, list[Event]], others: list[Event], end: int) -> None:
        """Publish a segment's events: each lane's group (with its high-water mark),
        then the others with the stream cursor ``end`` (its last sequence: the lanes'
        groups go first, so the cursor is committed with or after them)."""
        bus = self.bus
        groups = [
            (events, Headers(origin=tick_origin(self.stream, self.durable, origin),
                             cursor=self.marks[origin]))
            for origin, events in lanes.items()
        ]  # fmt: skip
        if others:
            groups.append((others, Headers(origin=self.origin, cursor=end)))
        for events, headers in groups:
            try:
                seqs = bus.publish_many_nowait(events, headers=headers)
            except BusFull:
                seqs = await bus.publish_many(events, headers=headers)
            self.last_bus_seq = seqs[-1]
            self.consumed += len(events)


class Segment:
    """The events of a run of a batch's messages, gathered to be published together
    by ``publisher``: each lane's, and the others (up to stream sequence ``end``).

    A message is taken (``taken``) before its events are published: it counts as
    handed on (``acks.handed``, where the consumer starts again if asking the server
    fails) only once they are, and its lane's mark moves only then too; events that
    were gathered and not published come again from the stream, not skipped.
    """

    def __init__(self, publisher: BusPublisher, acks: Acknowledger) -> None:
        self.publisher = publisher
        self.acks = acks
        self.lanes: dict[str, list[Event]] = {}
        self.others: list[Event] = []
        self.end = 0
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
        gathered = sum(map(len, self.lanes.values())) + len(self.others)
        if gathered + len(events) > self.publisher.group_limit:
            await self._publish()  # groups fit the buffer
        if lane is not None:
            origin, number = lane
            self.marks[origin] = number
            self.lanes.setdefault(origin, []).extend(events)
        else:
            self.others.extend(events)
        self.end = self.taken = seq

    async def publish(self) -> None:
        """Publish what was gathered, and start a new segment."""
        await self._publish()
        self.end = 0

    async def _publish(self) -> None:
        """Publish what was gathered: the messages taken are handed on."""
        publisher = self.publisher
        publisher.marks.update(self.marks)
        await publisher.publish(self.lanes, self.others, self.end)
        self.lanes, self.others, self.marks = {}, [], {}
        self.acks.handed = self.taken
