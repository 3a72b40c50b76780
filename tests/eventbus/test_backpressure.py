"""Backpressure: a full "block" subscription makes publish wait and publish_nowait raise
BusFull, "drop_oldest" drops and counts; and the buffer options subscribe accepts."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from eventbus import BusFull, EventBus, EventBusError

from ._bus_helpers import Item, numbers, settle


async def test_publish_waits_for_room_in_a_full_block_subscription() -> None:
    done = anyio.Event()
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">", max_buffer=2)
        bus.publish_nowait(Item(n=0))
        bus.publish_nowait(Item(n=1))

        async def publish_third() -> None:
            await bus.publish(Item(n=2))
            done.set()

        tg.start_soon(publish_third)
        await settle()
        assert not done.is_set()
        assert bus.statistics().published == 2
        assert sub.statistics().buffered == 2
        assert numbers([await sub.receive()]) == [0]
        with anyio.fail_after(5):
            await done.wait()
        assert numbers(await sub.receive_batch(10, 0)) == [1, 2]


async def test_backpressure_keeps_the_buffer_within_max_buffer() -> None:
    received: list[int] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">", max_buffer=8)

        async def produce() -> None:
            for i in range(200):
                await bus.publish(Item(n=i))

        tg.start_soon(produce)
        with anyio.fail_after(60):
            while len(received) < 200:
                for _ in range(20):  # turns enough for the producer to fill the buffer
                    await anyio.lowlevel.checkpoint()
                assert len(sub.inbox.buffer) <= 8
                batch = await sub.receive_batch(3, 0)
                received += numbers(batch)
                sub.ack(len(batch))
    assert received == list(range(200))
    assert sub.statistics().high_water == 8


async def test_publish_nowait_raises_bus_full_and_delivers_nowhere() -> None:
    async with EventBus() as bus:
        full = bus.subscribe("items.1", max_buffer=1, name="small")
        roomy = bus.subscribe(">")
        lossy = bus.subscribe(">", max_buffer=100, overflow="drop_oldest")
        assert bus.publish_nowait(Item(n=0, producer=1)) == 1
        with pytest.raises(BusFull, match="small") as info:
            bus.publish_nowait(Item(n=1, producer=1))
        assert info.value.subscription is full
        assert isinstance(info.value, EventBusError)
        assert bus.statistics().published == 1
        for sub in (full, roomy, lossy):
            assert (sub.statistics().buffered, sub.statistics().delivered) == (1, 1)
        # Other topics still flow, and the refused message used no sequence number.
        assert bus.publish_nowait(Item(n=2, producer=2)) == 2
        assert numbers(await roomy.receive_batch(10, 0)) == [0, 2]
        assert numbers(await lossy.receive_batch(10, 0)) == [0, 2]


async def test_drop_oldest_never_blocks_and_counts_every_drop() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">", max_buffer=3, overflow="drop_oldest")
        with anyio.fail_after(5):
            for i in range(5):
                bus.publish_nowait(Item(n=i))
            for i in range(5, 10):
                await bus.publish(Item(n=i))
        stats = sub.statistics()
        assert (stats.dropped, stats.delivered, stats.buffered, stats.high_water) == (7, 10, 3, 3)
        assert numbers(await sub.receive_batch(10, 0)) == [7, 8, 9]
        sub.ack(3)
        with anyio.fail_after(5):
            await bus.flush()  # dropped messages do not hold a flush


def test_subscribe_refuses_a_bad_max_buffer_or_overflow() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="max_buffer"):
        bus.subscribe(">", max_buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        bus.subscribe(">", overflow="drop_newest")  # type: ignore[arg-type]
    assert bus.subscriptions() == ()
