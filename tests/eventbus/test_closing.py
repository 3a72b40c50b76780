"""Closing: a closed bus or subscription refuses publishes, wakes whoever waits on it and
keeps buffered messages receivable; cancelled waits leave nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from eventbus import BusClosed, EventBus

from ._bus_helpers import Item, numbers, settle


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
