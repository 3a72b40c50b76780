"""The event bus: routing, fan-out, backpressure, batches, acks, flush, closing."""

from __future__ import annotations

import asyncio
import pickle
import re
import time
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import msgspec
import pytest

import schemas
from eventbus import (
    BusClosed,
    BusFull,
    EventBus,
    EventBusError,
    Message,
    NotStored,
    Subscription,
)
from eventbus import _inbox as inbox_module
from eventbus import _subscription as subscription_module
from schemas import InvalidEvent, Tick


class Item(msgspec.Struct, frozen=True):
    """A small event with a topic of its own: ``items.<producer>``."""

    n: int
    producer: int = 0

    @property
    def topic(self) -> str:
        return f"items.{self.producer}"


def numbers(messages: list[Message]) -> list[int]:
    return [message.event.n for message in messages]


async def settle() -> None:
    """Let every other task run until it waits for something."""
    await anyio.wait_all_tasks_blocked()


# ---------------------------------------------------------------------- routing


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


def test_message_event_is_decoded_lazily_and_once_when_there_is_no_local_object() -> None:
    tick = Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)
    calls: list[bytes] = []

    def decoder(data: bytes) -> Any:
        calls.append(data)
        return schemas.decode(data)

    message = Message.of_data("market.tick.BTCUSDT", 1, schemas.encode(tick), decoder=decoder)
    assert calls == []
    event = message.event
    assert event == tick
    assert message.event is event
    assert len(calls) == 1
    plain = Message.of_data("a.b", 2, msgspec.msgpack.encode({"a": 1}))
    assert plain.event == {"a": 1}


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


# ----------------------------------------------------------------- backpressure


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


# ---------------------------------------------------------------- acks and flush


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


# -------------------------------------------------------------------- batches


async def test_receive_batch_returns_as_soon_as_max_items_are_there() -> None:
    got: list[Message] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")
        for i in range(7):
            bus.publish_nowait(Item(n=i))
        with anyio.fail_after(5):  # max_wait is an hour: only the count can end the wait
            assert numbers(await sub.receive_batch(5, 3600)) == [0, 1, 2, 3, 4]

        async def receive() -> None:
            got.extend(await sub.receive_batch(5, 3600))

        tg.start_soon(receive)
        await settle()
        assert got == []  # two are there, it waits for five
        for i in range(7, 10):
            bus.publish_nowait(Item(n=i))
        await settle()
        assert numbers(got) == [5, 6, 7, 8, 9]


async def test_receive_batch_returns_fewer_after_max_wait_without_further_traffic() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        published_at = time.monotonic()
        bus.publish_nowait(Item(n=0))
        with anyio.fail_after(10):
            batch = await sub.receive_batch(100, 0.2)
        waited = time.monotonic() - published_at
    assert numbers(batch) == [0]
    assert waited >= 0.19


async def test_receive_batch_waits_for_a_first_message_however_long() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        with anyio.move_on_after(0.1) as scope:
            await sub.receive_batch(10, 0.001)
    assert scope.cancelled_caught


async def test_receive_batch_measures_max_wait_from_the_first_message_arrival(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_000.0]
    monkeypatch.setattr(inbox_module, "_monotonic", lambda: now[0])
    monkeypatch.setattr(subscription_module, "_monotonic", lambda: now[0])
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        bus.publish_nowait(Item(n=0))
        now[0] += 60.0  # the message has waited a minute already
        with anyio.fail_after(5):
            assert numbers(await sub.receive_batch(100, 30.0)) == [0]
        bus.publish_nowait(Item(n=1))
        now[0] += 29.9  # 0.1 s of its 30 s are left: the receiver waits for them
        with anyio.move_on_after(0.05) as scope:
            await sub.receive_batch(100, 30.0)
        assert scope.cancelled_caught
        assert sub.statistics().buffered == 1  # a cancelled receive takes nothing


# -------------------------------------------------------------------- threads


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


# -------------------------------------------------------------------- closing


async def test_closing_the_bus_refuses_publishes_and_keeps_buffered_messages_receivable() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        iterated = bus.subscribe(">")
        for i in range(3):
            bus.publish_nowait(Item(n=i))
    assert bus.closed
    with pytest.raises(BusClosed):
        bus.publish_nowait(Item(n=9))
    with pytest.raises(BusClosed):
        await bus.publish(Item(n=9))
    with pytest.raises(BusClosed):
        bus.subscribe(">")
    with anyio.fail_after(5):  # a closed bus does not make receivers wait for max_wait
        assert numbers(await sub.receive_batch(2, 3600)) == [0, 1]
        assert numbers(await sub.receive_batch(100, 3600)) == [2]
        with pytest.raises(BusClosed):
            await sub.receive_batch(100, 3600)
        with pytest.raises(BusClosed):
            await sub.receive()
        assert [m.event.n async for m in iterated] == [0, 1, 2]
    assert bus.statistics().published == 3


async def test_closing_the_bus_wakes_a_waiting_receiver_and_a_blocked_publisher() -> None:
    outcomes: dict[str, type[BaseException]] = {}

    async def outcome_of(name: str, call: Any) -> None:
        try:
            await call()
        except BusClosed as exc:
            outcomes[name] = type(exc)

    async with anyio.create_task_group() as tg:
        async with EventBus() as bus:
            idle = bus.subscribe("nothing")
            full = bus.subscribe("items.>", max_buffer=1)
            bus.publish_nowait(Item(n=0))
            tg.start_soon(outcome_of, "receiver", idle.receive)
            tg.start_soon(outcome_of, "publisher", lambda: bus.publish(Item(n=1)))
            await settle()
            assert outcomes == {}
        await settle()
        tg.cancel_scope.cancel()  # whatever still hangs fails the test below, not forever
    assert outcomes == {"receiver": BusClosed, "publisher": BusClosed}
    assert numbers(await full.receive_batch(10, 0)) == [0]


async def test_closing_a_subscription_releases_blocked_publishers_and_flushes() -> None:
    done: list[str] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        closing = bus.subscribe(">", max_buffer=1)
        other = bus.subscribe(">")
        bus.publish_nowait(Item(n=0))
        other.ack(len(await other.receive_batch(10, 0)))

        async def flush() -> None:
            await bus.flush()
            done.append("flush")

        async def publish() -> None:
            await bus.publish(Item(n=1))
            done.append("publish")

        tg.start_soon(flush)
        tg.start_soon(publish)
        await settle()
        assert done == []
        closing.close()
        await settle()
        assert sorted(done) == ["flush", "publish"]
        assert closing.closed
        assert [s.name for s in bus.statistics().subscriptions] == [other.name]
        with pytest.raises(BusClosed):
            await closing.receive()
        assert numbers(await other.receive_batch(10, 0)) == [1]


async def test_closing_a_subscription_wakes_its_waiting_receiver_with_bus_closed() -> None:
    outcome: list[str] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")

        async def receive() -> None:
            try:
                await sub.receive_batch(10, 1)
            except BusClosed:
                outcome.append("closed")

        tg.start_soon(receive)
        await settle()
        sub.close()
        sub.close()  # closing twice is harmless
        await settle()
        assert outcome == ["closed"]
        bus.publish_nowait(Item(n=0))
        assert [m async for m in sub] == []


async def test_closing_a_subscription_inside_async_for_ends_the_loop() -> None:
    seen: list[int] = []
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        for i in range(3):
            bus.publish_nowait(Item(n=i))
        async for message in sub:
            seen.append(message.event.n)
            sub.close()
    assert seen == [0]


async def test_an_exception_in_the_body_reaches_the_caller_as_itself() -> None:
    error = KeyError("boom")
    bus = EventBus()

    async def body() -> None:
        async with bus:
            bus.subscribe(">")
            raise error

    with pytest.raises(KeyError) as info:
        await body()
    assert info.value is error
    assert bus.closed


async def test_a_bus_can_be_entered_only_once() -> None:
    bus = EventBus()
    async with bus:
        pass
    with pytest.raises(RuntimeError, match="once"):
        async with bus:
            pass


def test_subscribe_refuses_a_bad_max_buffer_or_overflow() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="max_buffer"):
        bus.subscribe(">", max_buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        bus.subscribe(">", overflow="drop_newest")  # type: ignore[arg-type]
    assert bus.subscriptions() == ()


async def test_cancelling_receivers_publishers_and_flushes_leaves_no_task_behind() -> None:
    before = len(asyncio.all_tasks())
    async with EventBus() as bus:
        idle = bus.subscribe("idle")
        full = bus.subscribe("items.>", max_buffer=1)
        bus.publish_nowait(Item(n=0))
        async with anyio.create_task_group() as tg:
            tg.start_soon(idle.receive)
            tg.start_soon(bus.publish, Item(n=1))  # blocks: full is full
            tg.start_soon(bus.flush)  # waits for full to acknowledge
            await settle()
            assert len(asyncio.all_tasks()) == before + 3
            tg.cancel_scope.cancel()
        with anyio.move_on_after(0.05):  # cancelled half-way through a batch
            await full.receive_batch(10, 3600)
        assert bus.statistics().published == 1  # the cancelled publish delivered nothing
        assert full.statistics().buffered == 1  # and the cancelled receive took nothing
        bus.publish_nowait(Item(n=2), "idle")
        assert numbers([await idle.receive()]) == [2]
    assert len(asyncio.all_tasks()) == before


# ----------------------------------------------------------------- statistics


async def test_statistics_count_published_buffered_high_water_and_acknowledgements() -> None:
    async with EventBus() as bus:
        blocking = bus.subscribe(">", max_buffer=10, name="blocking")
        lossy = bus.subscribe(">", max_buffer=2, overflow="drop_oldest", name="lossy")
        for i in range(5):
            bus.publish_nowait(Item(n=i))
        stats = bus.statistics()
        assert stats.published == 5
        by_name = {s.name: s for s in stats.subscriptions}
        b, d = by_name["blocking"], by_name["lossy"]
        assert (b.buffered, b.high_water, b.delivered, b.received, b.dropped) == (5, 5, 5, 0, 0)
        assert (d.buffered, d.high_water, d.delivered, d.received, d.dropped) == (2, 2, 5, 0, 3)
        assert lossy.statistics() == d
        assert (b.max_buffer, b.overflow, b.patterns) == (10, "block", (">",))

        await blocking.receive_batch(3, 0)
        blocking.ack(2)
        bus.publish_nowait(Item(n=5))
        b = blocking.statistics()
        assert (b.buffered, b.in_flight, b.received, b.acknowledged) == (3, 1, 3, 2)
        assert (b.high_water, b.delivered) == (5, 6)
        assert bus.statistics().published == 6
    assert isinstance(stats, tuple)
    assert stats._fields == ("published", "subscriptions")


def test_a_subscription_shows_its_name_and_patterns() -> None:
    sub = EventBus().subscribe(["a.*", "b.>"], name="writer.main")
    assert isinstance(sub, Subscription)
    assert "writer.main" in repr(sub)
    assert "a.*, b.>" in repr(sub)


async def test_two_receivers_waiting_on_one_subscription_both_get_messages() -> None:
    received: list[int] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")

        async def receive_one() -> None:
            received.append((await sub.receive()).event.n)

        tg.start_soon(receive_one)
        tg.start_soon(receive_one)
        await settle()
        bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2))
        await settle()
        assert sorted(received) == [1, 2]


async def test_a_receiver_that_gives_up_does_not_strand_another_one_waiting() -> None:
    received: list[int] = []
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">")
        first = anyio.CancelScope()

        async def receive_one() -> None:
            received.append((await sub.receive()).event.n)

        async def give_up() -> None:
            with first:
                await sub.receive_batch(10, 3600)

        tg.start_soon(give_up)
        await settle()
        tg.start_soon(receive_one)
        await settle()
        first.cancel()
        await settle()
        bus.publish_nowait(Item(n=1))
        await settle()
        tg.cancel_scope.cancel()
    assert received == [1]


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


# ------------------------------------------------- the fast path of an admitting bus


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


async def test_events_published_encoded_are_foreign_and_decoded_by_the_bus() -> None:
    got: list[Message] = []
    async with EventBus(decoder=msgspec.msgpack.Decoder(Item).decode) as bus:
        sub = bus.subscribe("items.*", max_buffer=1)
        data = msgspec.msgpack.encode(Item(n=7))
        assert bus.publish_encoded_nowait(data, "items.0") == 1
        with pytest.raises(BusFull):
            bus.publish_encoded_nowait(data, "items.0")

        async def publish_when_there_is_room() -> None:
            await bus.publish_encoded(data, "items.0", wait=True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish_when_there_is_room)  # waits for room, then for the ack
            got += await sub.receive_batch(10, 0)
            sub.ack(1)
            got += await sub.receive_batch(10, 0)
            sub.ack(1)
        bus.publish_nowait(None, "items.0")  # published here, even if it is None
        [local] = await sub.receive_batch(10, 0)
    seen = [(m.seq, m.foreign, m.event) for m in got]
    assert seen == [(1, True, Item(n=7)), (2, True, Item(n=7))]
    assert (local.foreign, local.event) == (False, None)


# ----------------------------------------------------------- explicit topics


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


# ------------------------------------------------ what acknowledgements report


class Burnt(Exception):
    """The error of a consumer that failed."""


async def test_a_failed_durable_subscription_poisons_flushes_and_refuses_its_topics() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True, name="writer")
        viewer = bus.subscribe(">")
        for n in range(3):
            bus.publish_nowait(Item(n=n))
        await writer.receive_batch(10, 0)
        writer.ack(1)
        error = Burnt("the disk is on fire")
        writer.close(error=error)
        for last in (None, 2):
            with pytest.raises(BusClosed, match=r"message 2; .*the disk is on fire") as refused:
                await bus.flush(last)
            assert refused.value.__cause__ is error
        viewer.ack(len(await viewer.receive_batch(10, 0)))  # it holds no flush either
        await bus.flush(1)  # acknowledged before it failed
        for wait in (True, False):
            with pytest.raises(
                BusClosed, match=re.escape("'items.0': subscription 'writer'")
            ) as refused:
                await bus.publish(Item(n=3), wait=wait)
            assert refused.value.__cause__ is error
        with pytest.raises(BusClosed):
            bus.publish_nowait(Item(n=3))
        bus.publish_nowait(Item(n=4), "other.topic")  # not its topic: delivered
        assert viewer.statistics().delivered == 4
        successor = bus.subscribe("items.>", durable=True)  # its topics are taken again
        seq = bus.publish_nowait(Item(n=5))
        await successor.receive_batch(10, 0)
        successor.ack(1)
        with pytest.raises(BusClosed):
            await bus.flush(seq)  # it covers the abandoned messages: never stored


async def test_a_failure_with_nothing_held_refuses_only_what_comes_after() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True)
        bus.publish_nowait(Item(n=1))
        await writer.receive_batch(10, 0)
        writer.ack(1)
        writer.close(error=Burnt("after its last commit"))
        with anyio.fail_after(5):
            await bus.flush()  # everything published was acknowledged
        with pytest.raises(BusClosed, match="after its last commit"):
            bus.publish_nowait(Item(n=2))


async def test_closing_a_durable_subscription_that_acknowledged_everything_poisons_nothing() -> (
    None
):
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True)
        bus.publish_nowait(Item(n=1))
        await writer.receive_batch(10, 0)
        writer.ack(1)
        writer.close()
        successor = bus.subscribe("items.>", durable=True)
        bus.publish_nowait(Item(n=2))
        await successor.receive_batch(10, 0)
        successor.ack(1)
        with anyio.fail_after(5):
            await bus.flush()


async def test_a_message_acknowledged_as_failed_raises_not_stored_for_its_publisher() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.>", durable=True, name="writer")
        outcomes: list[BaseException | None] = []

        async def publish(n: int) -> None:
            try:
                await bus.publish(Item(n=n), wait=True)
                outcomes.append(None)
            except NotStored as exc:
                outcomes.append(exc)

        tg.start_soon(publish, 1)
        tg.start_soon(publish, 2)
        await settle()
        [_, second] = await writer.receive_batch(10, 0)
        writer.ack(2, failed={second.seq: "went to dead_letters: too big"})
        await settle()
        with anyio.fail_after(5):
            await bus.flush()  # the publisher was told: the flush is not
    [failure] = [o for o in outcomes if o is not None]
    assert isinstance(failure, NotStored)
    assert (failure.event_type, failure.topic, failure.seq) == ("Item", "items.0", second.seq)
    assert (failure.reason, failure.subscription, failure.more) == (
        "went to dead_letters: too big",
        "writer",
        0,
    )
    assert str(failure) == (
        f"Item (topic 'items.0', seq {second.seq}) was not stored by 'writer': "
        "went to dead_letters: too big"
    )


async def test_concurrent_flushes_report_each_failure_once() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.>", durable=True)
        failures: list[NotStored] = []
        returned: list[None] = []

        async def flush() -> None:
            try:
                await bus.flush()
                returned.append(None)
            except NotStored as exc:
                failures.append(exc)

        bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2))
        for _ in range(3):
            tg.start_soon(flush)
        await settle()
        await writer.receive_batch(10, 0)
        writer.ack(2, failed={1: "no", 2: "no either"})
        await settle()
    [failure] = failures
    assert (failure.seq, failure.more, len(returned)) == (1, 1, 2)


async def test_unreported_failures_are_bounded_and_counted() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True, max_buffer=2_000)
        for n in range(1_500):
            bus.publish_nowait(Item(n=n))
        await writer.receive_batch(2_000, 0)
        writer.ack(1_500, failed=dict.fromkeys(range(1, 1_501), "refused"))
        with pytest.raises(NotStored) as refused:
            await bus.flush()
        await bus.flush()
    # The oldest 500 lost their details, not their count.
    assert (refused.value.seq, refused.value.more) == (501, 1_499)
    assert "1499 more messages" in str(refused.value)


async def test_ack_refuses_failures_of_messages_it_does_not_acknowledge() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True)
        bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2))
        await writer.receive_batch(10, 0)
        with pytest.raises(ValueError, match=r"messages \[2\] as failed"):
            writer.ack(1, failed={2: "not this one"})
        assert writer.statistics().acknowledged == 0
        writer.ack(2)
        await bus.flush()


async def test_a_flush_cancelled_while_waiting_leaves_the_failure_to_the_next_one() -> None:
    async with EventBus() as bus:
        writer = bus.subscribe("items.>", durable=True)
        seq = bus.publish_nowait(Item(n=1))
        with anyio.move_on_after(0.01) as scope:
            await bus.flush()  # nothing acknowledges: it gives up
        assert scope.cancelled_caught
        await writer.receive_batch(10, 0)
        writer.ack(1, failed={seq: "refused"})
        with pytest.raises(NotStored, match="refused"):
            await bus.flush()


def test_not_stored_crosses_processes_whole() -> None:
    error = NotStored(
        event_type="TradeAlert", topic="logs.alert", seq=7, reason="went to dead_letters: x",
        subscription="writer:logs", more=2,
    )  # fmt: skip
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.event_type, copy.topic, copy.seq, copy.reason, copy.subscription, copy.more) == (
        "TradeAlert", "logs.alert", 7, "went to dead_letters: x", "writer:logs", 2,
    )  # fmt: skip
    assert str(copy) == str(error)
