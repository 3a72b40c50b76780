"""Atomic groups: publish_many* delivers every event or none, and batches keep groups whole."""

from __future__ import annotations

import re

import anyio
import msgspec
import pytest
from anyio.lowlevel import checkpoint

import schemas
from eventbus import BusClosed, BusFull, EventBus, EventBusError, Headers, NotStored
from schemas import InvalidEvent, Tick


class Item(msgspec.Struct, frozen=True):
    """A small event with a topic of its own: ``items.<producer>``."""

    n: int
    producer: int = 0

    @property
    def topic(self) -> str:
        return f"items.{self.producer}"


def tick(symbol: str, bid: float = 1.0) -> Tick:
    return Tick(symbol=symbol, bid=bid, ask=bid + 0.1)


async def settle() -> None:
    await anyio.wait_all_tasks_blocked()


# -------------------------------------------------------------------- delivery


async def test_a_group_gets_consecutive_seqs_and_the_last_one_as_its_group() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        bus.publish_nowait(Item(n=0))
        seqs = bus.publish_many_nowait([Item(n=1, producer=1), Item(n=2), Item(n=3, producer=2)])
        later = await bus.publish_many([Item(n=4), Item(n=5)])
        alone = bus.publish_nowait(Item(n=6))
        got = sub.receive_batch_nowait(100)
    assert (seqs, later, alone) == ([2, 3, 4], [5, 6], 7)
    assert [(m.seq, m.group) for m in got] == [
        (1, 0),
        (2, 4),
        (3, 4),
        (4, 4),
        (5, 6),
        (6, 6),
        (7, 0),
    ]
    assert [m.event.n for m in got] == list(range(7))
    assert [m.topic for m in got][1:4] == ["items.1", "items.0", "items.2"]


async def test_an_invalid_event_in_a_group_delivers_none_of_it() -> None:
    async with EventBus(admit=schemas.admit, decoder=schemas.decode) as bus:
        sub = bus.subscribe("market.>")
        with pytest.raises(InvalidEvent, match="bid"):
            bus.publish_many_nowait([tick("EURUSD"), tick("GBPUSD", bid=-1.0), tick("USDJPY")])
        with pytest.raises(InvalidEvent, match="bid"):
            await bus.publish_many([tick("EURUSD"), tick("GBPUSD", bid=-1.0)], wait=True)
        assert (bus.published, sub.statistics().delivered) == (0, 0)
        assert bus.publish_many_nowait([tick("EURUSD"), tick("GBPUSD")]) == [1, 2]


async def test_an_unrouted_member_refuses_the_whole_group() -> None:
    class NoRoute(Exception):
        pass

    def on_unrouted(topic: str) -> None:
        if topic.startswith("items.9"):
            raise NoRoute(topic)

    async with EventBus(on_unrouted=on_unrouted) as bus:
        sub = bus.subscribe(">")
        with pytest.raises(NoRoute):
            bus.publish_many_nowait([Item(n=0), Item(n=1, producer=9)])
        with pytest.raises(NoRoute):
            await bus.publish_many([Item(n=0), Item(n=1, producer=9)])
        with pytest.raises(EventBusError, match="no topic of its own"):
            bus.publish_many_nowait([Item(n=0), {"no": "topic"}])
        assert (bus.published, sub.statistics().delivered) == (0, 0)


async def test_a_group_that_does_not_fit_a_block_subscription_delivers_nothing() -> None:
    async with EventBus() as bus:
        bus.subscribe("items.1", max_buffer=3, name="small")
        everything = bus.subscribe(">")
        bus.publish_nowait(Item(n=0, producer=1))
        bus.publish_nowait(Item(n=1, producer=1))
        # Room for one more in "small", and the group has two members for it.
        with pytest.raises(BusFull, match="'small' is full"):
            bus.publish_many_nowait([Item(n=2, producer=1), Item(n=3), Item(n=4, producer=1)])
        assert everything.statistics().delivered == 2
        assert bus.publish_many_nowait([Item(n=5), Item(n=6, producer=1)]) == [3, 4]


async def test_a_group_larger_than_a_block_subscription_can_hold_is_refused_at_once() -> None:
    async with EventBus() as bus:
        bus.subscribe(">", max_buffer=2, name="tiny")
        message = "a group of 3 messages to subscription 'tiny': it holds at most 2"
        with pytest.raises(EventBusError, match=re.escape(message)):
            bus.publish_many_nowait([Item(n=i) for i in range(3)])
        with anyio.fail_after(5), pytest.raises(EventBusError, match=re.escape(message)):
            await bus.publish_many([Item(n=i) for i in range(3)])
        assert bus.published == 0


async def test_publish_many_waits_for_room_and_then_delivers_the_whole_group() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        sub = bus.subscribe(">", max_buffer=3)
        for n in range(3):
            bus.publish_nowait(Item(n=n))
        seqs: list[int] = []

        async def publish() -> None:
            seqs.extend(await bus.publish_many([Item(n=3), Item(n=4)]))

        tg.start_soon(publish)
        await settle()
        assert (seqs, sub.statistics().buffered) == ([], 3)  # no room: it waits
        assert sub.receive_nowait().event.n == 0
        await settle()
        # Room for one message lets the whole group in (one group over max_buffer at
        # most), so that single publishers taking each freed slot cannot starve it.
        assert seqs == [4, 5]
        assert sub.statistics().buffered == 4
        assert [m.event.n for m in sub.receive_batch_nowait()] == [1, 2, 3, 4]


async def test_publish_many_waiting_for_room_raises_when_the_bus_closes() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        bus.subscribe(">", max_buffer=2)
        bus.publish_nowait(Item(n=0))
        bus.publish_nowait(Item(n=1))  # full: the group waits for room
        outcome: list[BaseException] = []

        async def publish() -> None:
            try:
                await bus.publish_many([Item(n=2), Item(n=3)])
            except BusClosed as exc:
                outcome.append(exc)

        tg.start_soon(publish)
        await settle()
        bus.close()
        await settle()
    assert len(outcome) == 1
    assert bus.published == 2


async def test_an_empty_group_publishes_nothing() -> None:
    async with EventBus() as bus:
        bus.subscribe(">")
        assert bus.publish_many_nowait([]) == []
        assert await bus.publish_many([], wait=True) == []
        assert bus.published == 0


async def test_a_group_carries_its_headers_and_honours_echo() -> None:
    async with EventBus() as bus:
        service = bus.subscribe("items.>", name="svc", echo=False)
        listener = bus.subscribe(">")
        bus.publish_many_nowait([Item(n=0), Item(n=1)], headers=Headers(origin="svc"))
        assert service.receive_batch_nowait() == []
        got = listener.receive_batch_nowait()
    assert [m.headers for m in got] == [Headers(origin="svc")] * 2


# -------------------------------------------------------------- encoded groups


async def test_an_encoded_group_is_checked_whole_before_anything_is_delivered() -> None:
    good = [schemas.encode(tick("EURUSD")), schemas.encode(tick("GBPUSD"))]
    async with EventBus(admit=schemas.admit, decoder=schemas.decode) as bus:
        sub = bus.subscribe("market.>")
        items = [(good[0], "market.tick.EURUSD"), (b"\x93garbage", "market.tick.GBPUSD")]
        with pytest.raises(InvalidEvent):
            bus.publish_encoded_many_nowait(items)
        with pytest.raises(EventBusError, match="its own topic"):
            bus.publish_encoded_many_nowait([(good[0], "market.tick.GBPUSD")])
        assert bus.published == 0
        pairs = [(good[0], "market.tick.EURUSD"), (good[1], "market.tick.GBPUSD")]
        assert bus.publish_encoded_many_nowait(pairs) == [1, 2]
        assert await bus.publish_encoded_many(pairs, headers=Headers(origin="relay")) == [3, 4]
        got = sub.receive_batch_nowait()
    assert [(m.seq, m.group, m.foreign) for m in got] == [
        (1, 2, True),
        (2, 2, True),
        (3, 4, True),
        (4, 4, True),
    ]
    assert [m.event.symbol for m in got] == ["EURUSD", "GBPUSD"] * 2
    assert got[0].data is good[0]
    assert got[3].headers == Headers(origin="relay")


# ------------------------------------------------------------ batches and drops


async def test_a_batch_is_extended_to_the_end_of_a_group_it_started() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe("items.0")
        bus.publish_nowait(Item(n=0))
        # Members on other topics do not reach this subscription; its own are consecutive.
        bus.publish_many_nowait([Item(n=i, producer=i % 2) for i in range(1, 9)])
        bus.publish_nowait(Item(n=9))
        bus.publish_many_nowait([Item(n=10), Item(n=11)])
        first = sub.receive_batch_nowait(2)
        second = await sub.receive_batch(2, 0)
    assert [m.event.n for m in first] == [0, 2, 4, 6, 8]  # the batch finished the group
    assert [m.event.n for m in second] == [9, 10, 11]


async def test_receive_takes_one_message_of_a_group_at_a_time() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        bus.publish_many_nowait([Item(n=0), Item(n=1)])
        one = await sub.receive()
        two = sub.receive_nowait()
    assert (one.event.n, two.event.n) == (0, 1)


async def test_a_drop_oldest_subscription_may_drop_members_of_a_group_and_counts_them() -> None:
    async with EventBus() as bus:
        viewer = bus.subscribe(">", max_buffer=2, overflow="drop_oldest")
        bus.publish_nowait(Item(n=0))
        bus.publish_many_nowait([Item(n=i) for i in range(1, 5)])
        got = viewer.receive_batch_nowait()
        stats = viewer.statistics()
    assert [m.event.n for m in got] == [3, 4]
    assert (stats.dropped, stats.delivered) == (3, 5)


# --------------------------------------------------------------------- waiting


async def test_publish_many_wait_reports_every_member_not_stored_once() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.>", durable=True, name="writer")
        viewer = bus.subscribe(">")
        outcome: list[BaseException | list[int]] = []

        async def publish() -> None:
            try:
                outcome.append(await bus.publish_many([Item(n=i) for i in range(4)], wait=True))
            except NotStored as exc:
                outcome.append(exc)

        tg.start_soon(publish)
        await settle()
        batch = await writer.receive_batch(1, 0)  # the whole group
        assert [m.seq for m in batch] == [1, 2, 3, 4]
        writer.ack(4, failed={2: "went to dead_letters: too big", 4: "refused"})
        await settle()
        with anyio.fail_after(5):
            await bus.flush()  # the publisher was told: the flush is not
        assert viewer.statistics().delivered == 4  # not durable: not waited for
    [failure] = outcome
    assert isinstance(failure, NotStored)
    assert (failure.seq, failure.reason, failure.more) == (2, "went to dead_letters: too big", 1)


async def test_publish_many_wait_returns_once_every_member_is_stored() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.0", durable=True)
        other = bus.subscribe("items.1", durable=True)
        returned: list[list[int]] = []

        async def publish() -> None:
            returned.append(await bus.publish_many([Item(n=0), Item(n=1, producer=1)], wait=True))

        tg.start_soon(publish)
        await settle()
        writer.ack(len(await writer.receive_batch(10, 0)))
        await settle()
        assert returned == []  # one member is not stored yet
        other.ack(len(await other.receive_batch(10, 0)))
        await settle()
    assert returned == [[1, 2]]


async def test_publish_many_wait_raises_bus_closed_when_a_durable_subscription_fails() -> None:
    async with EventBus() as bus, anyio.create_task_group() as tg:
        writer = bus.subscribe("items.>", durable=True, name="writer")
        outcome: list[BaseException] = []

        async def publish() -> None:
            try:
                await bus.publish_many([Item(n=0), Item(n=1)], wait=True)
            except BusClosed as exc:
                outcome.append(exc)

        tg.start_soon(publish)
        await settle()
        await writer.receive_batch(10, 0)
        writer.close(error=OSError("disk full"))
        await settle()
    [closed] = outcome
    assert "'writer' was closed before it acknowledged message 1" in str(closed)
    assert isinstance(closed.__cause__, OSError)


async def test_a_group_is_not_starved_by_single_publishers_of_a_full_subscription() -> None:
    # The consumer frees one slot at a time and a single publisher takes each one at
    # once: a group that waited for room for all its members would never get in.
    async with EventBus() as bus:
        sub = bus.subscribe("items.>", max_buffer=4)
        group_seqs: list[int] = []

        async def flood() -> None:
            n = 0
            while True:
                await bus.publish(Item(n))
                n += 1

        async def consume() -> None:
            while True:
                await sub.receive()
                sub.ack()
                await checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(flood)
            tg.start_soon(consume)
            while sub.statistics().acknowledged < 100:
                await checkpoint()
            with anyio.fail_after(10):  # a hang guard, not a timing
                group_seqs = await bus.publish_many([Item(-1, 1), Item(-2, 1), Item(-3, 1)])
            tg.cancel_scope.cancel()
    assert len(group_seqs) == 3
