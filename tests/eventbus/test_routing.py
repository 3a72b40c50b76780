"""Routing: every matching subscription gets every message, in publish order, by the
event's own topic or an explicit one; and the on_unrouted hook that refuses a publish
no durable subscription takes."""

from __future__ import annotations

import msgspec
import pytest

from eventbus import EventBus, EventBusError

from ._bus_helpers import Item, numbers


async def test_messages_of_one_producer_arrive_in_publish_order() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe("items.*")
        seqs = [bus.publish_nowait(Item(n=i, producer=i % 3)) for i in range(100)]
        seqs += [await bus.publish(Item(n=i, producer=i % 3)) for i in range(100, 150)]
        messages = await sub.receive_batch(1_000, 0)
    assert numbers(messages) == list(range(150))
    assert [m.seq for m in messages] == seqs == list(range(1, 151))
    assert [m.topic for m in messages] == [f"items.{i % 3}" for i in range(150)]


async def test_every_matching_subscription_receives_every_message() -> None:
    async with EventBus() as bus:
        everything = bus.subscribe(">")
        all_items = bus.subscribe("items.*")
        producer_one = bus.subscribe("items.1")
        elsewhere = bus.subscribe("other.>")
        for i in range(10):
            bus.publish_nowait(Item(n=i, producer=1))
        received = [await s.receive_batch(100, 0) for s in (everything, all_items, producer_one)]
    for messages in received:
        assert numbers(messages) == list(range(10))
    # Encoded once, the same bytes for every subscriber.
    for a, b, c in zip(*received, strict=True):
        assert a.data is b.data is c.data
        assert msgspec.msgpack.decode(a.data, type=Item) == a.event
    assert elsewhere.statistics().delivered == 0


async def test_an_in_process_message_carries_the_published_object_itself() -> None:
    item = Item(n=7)
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        bus.publish_nowait(item)
        message = await sub.receive()
    assert message.event is item


async def test_an_event_without_a_topic_needs_an_explicit_one() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        with pytest.raises(EventBusError, match="topic"):
            bus.publish_nowait({"no": "topic"})
        bus.publish_nowait({"no": "topic"}, "explicit.topic")
        message = await sub.receive()
    assert (message.topic, message.seq, message.event) == ("explicit.topic", 1, {"no": "topic"})


async def test_on_unrouted_refuses_a_publish_that_no_durable_subscription_takes() -> None:
    class NoDurableRoute(Exception):
        pass

    unrouted: list[str] = []

    def on_unrouted(topic: str) -> None:
        unrouted.append(topic)
        if topic.startswith("persist."):
            raise NoDurableRoute(topic)

    async with EventBus(on_unrouted=on_unrouted) as bus:
        watcher = bus.subscribe(">")
        with pytest.raises(NoDurableRoute):
            bus.publish_nowait(Item(n=0), "persist.a")
        with pytest.raises(NoDurableRoute):
            await bus.publish(Item(n=0), "persist.a")
        assert (bus.statistics().published, watcher.statistics().delivered) == (0, 0)
        bus.publish_nowait(Item(n=1), "view.a")  # the hook let it through
        writer = bus.subscribe("persist.>", durable=True)
        bus.publish_nowait(Item(n=2), "persist.a")
        assert unrouted == ["persist.a", "persist.a", "view.a"]
        assert numbers(await watcher.receive_batch(10, 0)) == [1, 2]
        assert numbers(await writer.receive_batch(10, 0)) == [2]
        writer.close()
        with pytest.raises(NoDurableRoute):
            bus.publish_nowait(Item(n=3), "persist.a")
        assert watcher.statistics().buffered == 0
