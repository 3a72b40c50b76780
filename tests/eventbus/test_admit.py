"""The admit hook: an event is checked (and given its topic) before it enters the bus,
and an admitting bus's fast path, publish_each_nowait included, keeps every rule of
the plain bus: order, fan-out, buffers, wake-ups, closing, and its events' own topics."""

from __future__ import annotations

import re

import anyio
import anyio.to_thread
import pytest

import schemas
from eventbus import BusClosed, BusFull, EventBus, EventBusError, Message
from schemas import InvalidEvent, Tick

from ._bus_helpers import Item, numbers, settle


async def test_schemas_admit_refuses_an_invalid_event_before_it_enters_the_bus() -> None:
    async with EventBus(admit=schemas.admit, decoder=schemas.decode) as bus:
        sub = bus.subscribe("market.>")
        with pytest.raises(InvalidEvent, match="bid"):
            bus.publish_nowait(Tick(symbol="BTCUSDT", bid=-1.0, ask=1.0))
        with pytest.raises(InvalidEvent, match="symbol"):
            await bus.publish(Tick(symbol="", bid=1.0, ask=1.0))
        bus.publish_nowait(Tick(symbol="EURUSD.m", bid=1.0, ask=1.1))
        messages = await sub.receive_batch(10, 0)
    assert [m.topic for m in messages] == ["market.tick.EURUSD%2Em"]
    assert schemas.decode(messages[0].data) == messages[0].event
    assert bus.statistics().published == 1


async def test_the_admit_hook_sees_every_event_and_its_error_refuses_the_publish() -> None:
    seen: list[Item] = []

    def admit(event: Item) -> str:
        seen.append(event)
        if event.n < 0:
            raise ValueError(f"negative n: {event.n}")
        return f"admitted.{event.n}"

    bad = Item(n=-1)
    async with EventBus(admit=admit) as bus:
        sub = bus.subscribe(">")
        other = bus.subscribe(">", overflow="drop_oldest")
        bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2), "admitted.2")  # its own topic, given explicitly
        with pytest.raises(ValueError, match="negative"):
            bus.publish_nowait(bad)
        with pytest.raises(ValueError, match="negative"):
            await bus.publish(bad, "admitted.2")  # checked before its topic
        messages = await sub.receive_batch(10, 0)
    assert seen == [Item(n=1), Item(n=2), bad, bad]
    assert [m.topic for m in messages] == ["admitted.1", "admitted.2"]
    assert bus.statistics().published == 2
    assert other.statistics().delivered == 2


def item_topic(event: Item) -> str:
    """An admit hook that checks nothing: a bus with one publishes through a closure."""
    return event.topic


async def test_an_admitting_bus_keeps_order_fan_out_and_sequence_numbers() -> None:
    async with EventBus(admit=item_topic) as bus:
        one = bus.subscribe("items.1")
        every = bus.subscribe(">")
        seqs = [bus.publish_nowait(Item(n=i, producer=i % 2)) for i in range(50)]
        assert bus.publish_nowait(Item(n=50, producer=1), "items.1") == 51
        assert seqs == list(range(1, 51))
        assert numbers(await one.receive_batch(100, 0)) == [*range(1, 50, 2), 50]
        received = await every.receive_batch(100, 0)
    assert numbers(received) == list(range(51))
    assert received[-1].topic == "items.1"
    assert bus.statistics().published == 51


async def test_an_admitting_bus_keeps_every_buffer_rule() -> None:
    async with EventBus(admit=item_topic) as bus:
        small = bus.subscribe("items.1", max_buffer=3, name="small")
        lossy = bus.subscribe("items.2", max_buffer=2, overflow="drop_oldest")
        for i in range(3):
            bus.publish_nowait(Item(n=i, producer=1))
        with pytest.raises(BusFull, match="small"):
            bus.publish_nowait(Item(n=3, producer=1))
        assert (small.statistics().delivered, bus.statistics().published) == (3, 3)
        for i in range(5):
            bus.publish_nowait(Item(n=i, producer=2))
        assert (lossy.statistics().dropped, lossy.statistics().buffered) == (3, 2)
        assert numbers(await lossy.receive_batch(10, 0)) == [3, 4]


async def test_an_admitting_bus_wakes_a_receiver_at_its_count_and_its_first_message() -> None:
    got: list[list[Message]] = []
    async with EventBus(admit=item_topic) as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")

        async def receive(count: int) -> None:
            got.append(await sub.receive_batch(count, 3600))

        with anyio.fail_after(5):  # max_wait is an hour: only the count ends a wait
            tg.start_soon(receive, 4)
            await settle()
            for i in range(3):
                bus.publish_nowait(Item(n=i))
            await settle()
            assert got == []  # three are there, it waits for four
            bus.publish_nowait(Item(n=3))
            await settle()
            assert [numbers(batch) for batch in got] == [[0, 1, 2, 3]]
            tg.start_soon(receive, 1)
            await settle()
            bus.publish_nowait(Item(n=4))  # the first message into an empty buffer
            await settle()
        assert [numbers(batch) for batch in got] == [[0, 1, 2, 3], [4]]


async def test_publish_each_nowait_publishes_as_one_publish_nowait_per_event() -> None:
    got: list[list[Message]] = []
    async with EventBus(admit=item_topic) as bus, anyio.create_task_group() as tg:
        every = bus.subscribe(">")
        one = bus.subscribe("items.0")

        async def receive(count: int) -> None:
            got.append(await one.receive_batch(count, 3600))

        with anyio.fail_after(5):
            tg.start_soon(receive, 5)
            await settle()
            assert bus.publish_each_nowait([Item(n=i) for i in range(3)]) == 3
            await settle()
            assert got == []  # three are there, it waits for five
            # The fifth wakes the receiver, as it would have one by one.
            assert bus.publish_each_nowait([Item(n=i) for i in range(3, 10)]) == 7
            await settle()
        assert [numbers(batch) for batch in got] == [[0, 1, 2, 3, 4]]
        mixed = [Item(n=10, producer=1), Item(n=11), Item(n=12, producer=1)]
        assert bus.publish_each_nowait(mixed) == 3
        assert bus.publish_each_nowait([]) == 0
        assert bus.publish_nowait(Item(n=13)) == 14
        received = every.receive_batch_nowait(100)
        assert numbers(received) == list(range(14))
        assert [m.seq for m in received] == list(range(1, 15))
        assert {m.group for m in received} == {0}  # each its own message, no group
        assert numbers(one.receive_batch_nowait(100)) == [5, 6, 7, 8, 9, 11, 13]


async def test_publish_each_nowait_stops_at_a_full_buffer_and_admits_every_event_first() -> None:
    async with EventBus(admit=schemas.admit) as bus:
        small = bus.subscribe("market.tick.>", max_buffer=4)
        ticks = [Tick(symbol="EURUSD", bid=1.0 + i / 100, ask=1.1) for i in range(6)]
        assert bus.publish_each_nowait(ticks) == 4  # the fifth met a full buffer
        assert [m.event for m in small.receive_batch_nowait(10)] == ticks[:4]
        small.ack(4)
        assert bus.publish_each_nowait(ticks[4:]) == 2
        bad = [Tick(symbol="EURUSD", bid=1.0, ask=1.1), Tick(symbol="EURUSD", bid=-1.0, ask=1.1)]
        with pytest.raises(InvalidEvent, match="bid"):
            bus.publish_each_nowait(bad)
        assert bus.statistics().published == 6  # the valid one was not published either
        bus.close()
        with pytest.raises(BusClosed):
            bus.publish_each_nowait(ticks)


async def test_an_admitting_bus_keeps_the_buffer_rules_of_a_topic_s_two_subscriptions() -> None:
    got: list[list[Message]] = []
    async with EventBus(admit=item_topic) as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.>", max_buffer=100, name="writer")
        service = bus.subscribe("items.1", max_buffer=3, name="service")

        async def receive() -> None:
            got.append(await writer.receive_batch(2, 3600))

        with anyio.fail_after(5):
            tg.start_soon(receive)
            await settle()
            for i in range(3):
                bus.publish_nowait(Item(n=i, producer=1))
            await settle()
            assert [numbers(batch) for batch in got] == [[0, 1]]  # woken at its count
            with pytest.raises(BusFull, match="service"):
                bus.publish_nowait(Item(n=3, producer=1))  # one is full: neither gets it
        assert numbers(await service.receive_batch(10, 0)) == [0, 1, 2]
        assert numbers(await writer.receive_batch(10, 0)) == [2]
        assert bus.statistics().published == 3


async def test_an_admitting_bus_refuses_publishes_once_closed() -> None:
    async with EventBus(admit=item_topic) as bus:
        sub = bus.subscribe(">")
        for i in range(3):
            bus.publish_nowait(Item(n=i))
    with pytest.raises(BusClosed):
        bus.publish_nowait(Item(n=9))
    with pytest.raises(BusClosed):
        bus.publish_nowait(Item(n=9), "items.0")
    assert numbers(await sub.receive_batch(10, 0)) == [0, 1, 2]
    assert bus.statistics().published == 3


async def test_an_admitting_bus_refuses_an_explicit_topic_that_is_not_the_events_own() -> None:
    async with EventBus(admit=item_topic) as bus:
        sub = bus.subscribe(">")
        with pytest.raises(EventBusError) as refused:
            bus.publish_nowait(Item(n=1, producer=2), "elsewhere.x")
        assert str(refused.value) == (
            "cannot publish Item to 'elsewhere.x': its own topic is 'items.2' and this bus "
            "routes events by their own topic; pass no topic (nothing was delivered)"
        )
        with pytest.raises(EventBusError, match=re.escape("its own topic is 'items.2'")):
            await bus.publish(Item(n=1, producer=2), "items.3", wait=True)
        with pytest.raises(EventBusError, match=re.escape("its own topic is 'items.2'")):
            await anyio.to_thread.run_sync(
                lambda: bus.publish_threadsafe(Item(n=1, producer=2), "items.0")
            )
        assert (bus.published, sub.statistics().delivered) == (0, 0)
    async with EventBus() as bus:  # no admit hook: an explicit topic for anything
        sub = bus.subscribe(">")
        bus.publish_nowait(Item(n=1), "elsewhere.x")
        bus.publish_nowait({"any": "thing"}, "anything.at.all")
        assert [m.topic for m in await sub.receive_batch(10, 0)] == [
            "elsewhere.x",
            "anything.at.all",
        ]
