"""Acknowledgements and flush: flush and publish(wait=True) return once the messages are
acknowledged (by the durable subscriptions where there are any), the assist hook, and
what ack accepts."""

from __future__ import annotations

import anyio
import pytest

from eventbus import EventBus, Message

from ._bus_helpers import Item, numbers, settle


async def test_flush_waits_until_every_receiving_subscription_acknowledges() -> None:
    flushed = anyio.Event()
    async with EventBus() as bus, anyio.create_task_group() as tg:
        first = bus.subscribe(">")
        second = bus.subscribe("items.1")
        bus.publish_nowait(Item(n=0, producer=1))
        bus.publish_nowait(Item(n=1, producer=2))
        bus.publish_nowait(Item(n=2, producer=1))

        async def flush() -> None:
            await bus.flush()
            flushed.set()

        tg.start_soon(flush)
        await settle()
        bus.publish_nowait(Item(n=3, producer=1))  # after the flush began: does not hold it
        first.ack(len(await first.receive_batch(3, 0)))
        await settle()
        assert not flushed.is_set()  # the second subscription holds messages 0 and 2
        second.ack(len(await second.receive_batch(1, 0)))
        await settle()
        assert not flushed.is_set()
        assert numbers([await second.receive()]) == [2]
        await settle()
        assert not flushed.is_set()  # received is not acknowledged
        second.ack()
        with anyio.fail_after(5):
            await flushed.wait()
        assert first.statistics().buffered == second.statistics().buffered == 1


async def test_flush_returns_at_once_when_nothing_is_pending() -> None:
    async with EventBus() as bus:
        with anyio.fail_after(5):
            await bus.flush()
        sub = bus.subscribe(">")
        bus.subscribe("elsewhere")
        bus.publish_nowait(Item(n=0))
        await sub.receive()
        sub.ack()
        with anyio.fail_after(5):
            await bus.flush()


async def test_publish_with_wait_returns_only_after_the_message_is_acknowledged() -> None:
    result: list[int] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")
        bus.subscribe("elsewhere")

        async def publish() -> None:
            result.append(await bus.publish(Item(n=0), wait=True))

        tg.start_soon(publish)
        await settle()
        assert result == []
        message = await sub.receive()
        await settle()
        assert result == []
        sub.ack()
        await settle()
        assert result == [message.seq]


async def test_an_idle_consumer_lets_the_waiter_do_its_work() -> None:
    # The consumer's assist hook runs in the waiter's task, before it waits: what it
    # takes and acknowledges there is done before publish(wait=True) returns, and no
    # task of the consumer is needed.
    calls: list[list[int]] = []
    async with EventBus() as bus:
        sub = bus.subscribe(">", durable=True)

        def assist() -> None:
            batch = sub.receive_batch_nowait(10)
            calls.append(numbers(batch))
            sub.ack(len(batch))

        sub.assist = assist
        bus.publish_nowait(Item(n=0))
        seq = await bus.publish(Item(n=1), wait=True)
        assert calls == [[0, 1]]
        stats = sub.statistics()
        assert (stats.acknowledged, stats.buffered, stats.in_flight) == (2, 0, 0)
        await bus.flush()  # nothing buffered: not asked again
        assert calls == [[0, 1]]
    assert seq == 2


async def test_a_waiter_waits_as_usual_when_the_assist_hook_takes_nothing() -> None:
    asked: list[int] = []
    done: list[int] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")
        sub.assist = lambda: asked.append(sub.statistics().buffered)

        async def publish() -> None:
            done.append(await bus.publish(Item(n=0), wait=True))

        tg.start_soon(publish)
        await settle()
        assert (asked, done) == ([1], [])
        message = await sub.receive()
        sub.ack()
        await settle()
        assert done == [message.seq]
        assert asked == [1]  # the message was received before anyone waited again


async def test_acknowledging_more_than_received_raises_value_error() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        for i in range(3):
            bus.publish_nowait(Item(n=i))
        with pytest.raises(ValueError, match="cannot acknowledge 1"):
            sub.ack(1)  # buffered is not received
        await sub.receive_batch(2, 0)
        with pytest.raises(ValueError, match="cannot acknowledge 3"):
            sub.ack(3)
        with pytest.raises(ValueError, match="cannot acknowledge -1"):
            sub.ack(-1)
        sub.ack(2)
        with pytest.raises(ValueError, match="cannot acknowledge 1"):
            sub.ack(1)
        stats = sub.statistics()
    assert (stats.received, stats.acknowledged, stats.in_flight, stats.buffered) == (2, 2, 0, 1)


async def test_async_for_acknowledges_each_message_when_it_asks_for_the_next() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        for i in range(3):
            bus.publish_nowait(Item(n=i))
        async for message in sub:
            stats = sub.statistics()
            assert (stats.acknowledged, stats.in_flight) == (message.event.n, 1)
            if message.event.n == 2:
                break


async def test_flush_and_wait_follow_the_durable_subscriptions_when_there_are_any() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True)
        reader = bus.subscribe("items.>")  # a slow in-process reader that never acks
        bus.publish_nowait(Item(n=1))
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: bus.publish(Item(n=2), wait=True))
                received: list[Message] = []
                while len(received) < 2:
                    received += await writer.receive_batch(2, 0.0)
                writer.ack(2)  # the waiting publish returns: the reader does not hold it
        with anyio.fail_after(5):
            await bus.flush()  # held by the writer only
        assert reader.statistics().acknowledged == 0
        assert reader.statistics().buffered == 2


async def test_flush_up_to_a_message_ignores_later_ones() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe("items.>")
        first = bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2))
        sub.receive_nowait()
        sub.ack()
        with anyio.fail_after(5):
            await bus.flush(first)
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                await bus.flush()
