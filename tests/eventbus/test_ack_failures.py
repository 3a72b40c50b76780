"""What acknowledgements report: a failed durable subscription poisons flushes and
refuses its topics, and messages acknowledged as failed raise NotStored."""

from __future__ import annotations

import pickle
import re

import anyio
import pytest

from eventbus import BusClosed, EventBus, NotStored

from ._bus_helpers import Item, settle


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
