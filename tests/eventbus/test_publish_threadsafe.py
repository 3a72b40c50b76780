"""publish_threadsafe: other threads publish into a running bus, losing nothing and
keeping their order; the event loop's own thread and a bus not running are refused."""

from __future__ import annotations

import anyio
import anyio.to_thread
import pytest

from eventbus import BusClosed, EventBus

from ._bus_helpers import Item, numbers


async def test_four_threads_publishing_concurrently_lose_nothing_and_keep_their_order() -> None:
    per_thread = 200
    received: list[Item] = []

    def produce(producer: int) -> None:
        for n in range(per_thread):
            bus.publish_threadsafe(Item(n=n, producer=producer))

    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">", max_buffer=16)  # small: the threads wait for room too
        for producer in range(4):
            tg.start_soon(anyio.to_thread.run_sync, produce, producer)
        with anyio.fail_after(60):
            while len(received) < 4 * per_thread:
                batch = await sub.receive_batch(50, 0.01)
                received.extend(m.event for m in batch)
                sub.ack(len(batch))
    assert len(received) == bus.statistics().published == 4 * per_thread
    for producer in range(4):
        assert [e.n for e in received if e.producer == producer] == list(range(per_thread))
    assert sub.statistics().high_water <= 16


async def test_publish_threadsafe_refuses_the_event_loop_thread_and_a_bus_not_running() -> None:
    bus = EventBus()
    with pytest.raises(BusClosed):
        await anyio.to_thread.run_sync(bus.publish_threadsafe, Item(n=0))
    async with bus:
        sub = bus.subscribe(">")
        with pytest.raises(RuntimeError, match="event loop"):
            bus.publish_threadsafe(Item(n=0))
        seq = await anyio.to_thread.run_sync(bus.publish_threadsafe, Item(n=1))
    with pytest.raises(BusClosed):
        await anyio.to_thread.run_sync(bus.publish_threadsafe, Item(n=2))
    assert (seq, numbers(await sub.receive_batch(10, 0))) == (1, [1])
