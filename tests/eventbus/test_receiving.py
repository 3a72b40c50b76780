"""Receiving: receive_batch returns at its count or max_wait after the first message,
and several receivers waiting on one subscription."""

from __future__ import annotations

import time

import anyio
import pytest

from eventbus import EventBus, Message
from eventbus import _inbox as inbox_module
from eventbus import _subscription as subscription_module

from ._bus_helpers import Item, numbers, settle


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
