"""``Subscription.call_when_buffered``: a consumer's callback, run in the publisher's
call once a publish leaves that many messages buffered, with no task of its own."""

from __future__ import annotations

import pytest

from eventbus import BusFull, EventBus, Subscription

from ._bus_helpers import Item, numbers


def _buffered(subscription: Subscription) -> int:
    return subscription.statistics().buffered


def _take_every(consumer: Subscription, count: int) -> list[list[int]]:
    """Arm ``consumer``'s callback to take and acknowledge ``count`` messages each
    time, and arm itself again; return the numbers of each batch it takes."""
    batches: list[list[int]] = []

    def take() -> None:
        batch = consumer.receive_batch_nowait(count)
        batches.append(numbers(batch))
        consumer.ack(len(batch))
        consumer.call_when_buffered(count, take)

    consumer.call_when_buffered(count, take)
    return batches


async def test_the_callback_runs_once_in_the_call_of_the_publish_that_fills_the_count() -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>")
        other = bus.subscribe("items.>")  # subscribed after: its copy comes after
        seen: list[tuple[int, int]] = []
        consumer.call_when_buffered(3, lambda: seen.append((_buffered(consumer), _buffered(other))))
        for n in range(6):
            bus.publish_nowait(Item(n=n))
            if n == 1:
                assert seen == []
            if n == 2:
                # In the third publish's call, once the message is in every subscription.
                assert seen == [(3, 3)]
        assert seen == [(3, 3)]  # once: not again at 4, 5 or 6 until armed again


async def test_the_callback_may_take_a_batch_and_arm_itself_again() -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>")
        batches = _take_every(consumer, 4)
        for n in range(10):
            bus.publish_nowait(Item(n=n))
        bus.publish_each_nowait([Item(n=n) for n in range(10, 19)])
        assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
        assert numbers(consumer.receive_batch_nowait(10)) == [16, 17, 18]


async def test_an_atomic_group_calls_it_once_whole_and_disarming_stops_it() -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>")
        calls: list[int] = []
        consumer.call_when_buffered(2, lambda: calls.append(_buffered(consumer)))
        bus.publish_many_nowait([Item(n=n) for n in range(5)])
        assert calls == [5]  # after the whole group, never inside it
        consumer.call_when_buffered(7, lambda: calls.append(-1))
        consumer.call_when_buffered(7, None)
        for n in range(5):
            bus.publish_nowait(Item(n=n))
        assert calls == [5]


@pytest.mark.parametrize("count", [0, 11])
async def test_a_count_that_can_never_be_buffered_is_refused(count: int) -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>", max_buffer=10)
        with pytest.raises(
            ValueError, match=f"count must be from 1 to max_buffer \\(10\\), got {count}"
        ):
            consumer.call_when_buffered(count, lambda: None)


async def test_a_callback_that_raises_is_logged_and_the_publish_returns_its_seq(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with EventBus() as bus:
        first = bus.subscribe("items.>", name="first")
        second = bus.subscribe("items.>", name="second")
        later: list[int] = []

        def fail() -> None:
            raise RuntimeError("the consumer's bug")

        first.call_when_buffered(1, fail)
        second.call_when_buffered(1, lambda: later.append(_buffered(second)))
        assert bus.publish_nowait(Item(n=0)) == 1  # delivered, not raised
        assert bus.publish_many_nowait([Item(n=1), Item(n=2)]) == [2, 3]
        assert later == [1]  # the other subscription's callback ran all the same
        assert numbers(first.receive_batch_nowait(10)) == [0, 1, 2]
        assert numbers(second.receive_batch_nowait(10)) == [0, 1, 2]
    [record] = [r for r in caplog.records if r.name == "eventbus"]
    assert "subscription 'first'" in record.getMessage()
    assert "disarmed" in record.getMessage()


async def test_what_the_callback_takes_counts_against_max_buffer_until_a_publisher_waits() -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>", max_buffer=4)
        _take_every(consumer, 2)
        for n in range(4):
            bus.publish_nowait(Item(n=n))
        assert _buffered(consumer) == 0  # all taken by the callback...
        with pytest.raises(BusFull):  # ... yet a producer that never yields must wait
            bus.publish_nowait(Item(n=4))
        assert await bus.publish(Item(n=4)) == 5  # waiting (it yielded) frees the room
        for n in range(5, 8):
            bus.publish_nowait(Item(n=n))
        assert consumer.statistics().acknowledged == 8


async def test_a_drop_oldest_subscription_never_holds_what_its_callback_took() -> None:
    async with EventBus() as bus:
        consumer = bus.subscribe("items.>", max_buffer=2, overflow="drop_oldest")
        batches = _take_every(consumer, 2)
        for n in range(10):
            bus.publish_nowait(Item(n=n))
        assert [n for batch in batches for n in batch] == list(range(10))
        assert consumer.statistics().dropped == 0
