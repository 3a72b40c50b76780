"""Messages: lazy encoding, headers, and a subscription that does not hear itself."""

from __future__ import annotations

import re
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest

import schemas
from eventbus import BusFull, EventBus, Headers, Message
from schemas import Tick


class Item(msgspec.Struct, frozen=True):
    """A small event with a topic of its own: ``items.<producer>``."""

    n: int
    producer: int = 0

    @property
    def topic(self) -> str:
        return f"items.{self.producer}"


class CountingEncoder:
    """msgpack, counting the events it encodes."""

    def __init__(self) -> None:
        self.encoded: list[Any] = []
        self._encoder = msgspec.msgpack.Encoder()

    def __call__(self, event: Any) -> bytes:
        self.encoded.append(event)
        return self._encoder.encode(event)


# --------------------------------------------------------------- lazy encoding


async def test_an_in_process_event_is_encoded_only_when_a_subscriber_asks_for_data() -> None:
    encoder = CountingEncoder()
    async with EventBus(encode=encoder) as bus:
        first, second = bus.subscribe("items.>"), bus.subscribe(">")
        for n in range(3):
            bus.publish_nowait(Item(n=n))
        await bus.publish(Item(n=3))
        got = first.receive_batch_nowait(10)
        assert [m.event.n for m in got] == [0, 1, 2, 3]
        assert encoder.encoded == []  # nobody asked for bytes: nothing was encoded
        also = second.receive_batch_nowait(10)
        data = also[1].data
        assert got[1].data is data  # encoded once, shared by every subscriber
    assert encoder.encoded == [Item(n=1)]
    assert msgspec.msgpack.decode(data, type=Item) == Item(n=1)
    assert [m.foreign for m in got] == [False] * 4
    assert got[0].local is got[0].event


async def test_a_node_bus_carries_ticks_to_an_in_process_reader_without_encoding_them() -> None:
    encoder = CountingEncoder()
    tick = Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)
    async with EventBus(admit=schemas.admit, encode=encoder, decoder=schemas.decode) as bus:
        reader = bus.subscribe("market.>")
        seq = bus.publish_nowait(tick)
        [message] = reader.receive_batch_nowait()
    assert (message.seq, message.event, encoder.encoded) == (seq, tick, [])
    assert schemas.decode(message.data) == tick
    assert encoder.encoded == [tick]


def test_a_message_is_generic_in_its_event_type() -> None:
    tick = Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)
    message: Message[Tick] = Message[Tick].of_event("market.tick.BTCUSDT", 1, tick)
    assert message.event is tick
    assert (message.headers, message.group, message.foreign) == (None, 0, False)
    assert msgspec.msgpack.decode(message.data) == msgspec.to_builtins(tick)


# --------------------------------------------------------------------- headers


async def test_headers_travel_with_the_message_from_every_kind_of_publish() -> None:
    origin = Headers(origin="relay-1", cursor=41)
    async with EventBus() as bus:
        sub = bus.subscribe(">")
        bus.publish_nowait(Item(n=0), headers=origin)
        await bus.publish(Item(n=1), headers=Headers(origin="svc"))
        bus.publish_encoded_nowait(msgspec.msgpack.encode({"n": 2}), "raw.a", headers=origin)
        await bus.publish_encoded(msgspec.msgpack.encode({"n": 3}), "raw.b", headers=origin)
        await anyio.to_thread.run_sync(
            lambda: bus.publish_threadsafe(Item(n=4), headers=Headers(cursor=7))
        )
        bus.publish_nowait(Item(n=5))
        got = sub.receive_batch_nowait(10)
    assert [m.headers for m in got] == [
        origin,
        Headers(origin="svc"),
        origin,
        origin,
        Headers(origin="", cursor=7),
        None,
    ]
    assert [m.foreign for m in got] == [False, False, True, True, False, False]
    assert got[2].event == {"n": 2}


async def test_headers_keep_a_node_bus_on_its_fast_path_semantics() -> None:
    tick = Tick(symbol="EURUSD", bid=1.0, ask=1.1)
    async with EventBus(admit=schemas.admit, decoder=schemas.decode) as bus:
        writer = bus.subscribe("market.>", max_buffer=2)
        for _ in range(2):
            bus.publish_nowait(tick, headers=Headers(origin="feed"))
        with pytest.raises(BusFull):
            bus.publish_nowait(tick, headers=Headers(origin="feed"))
        got = writer.receive_batch_nowait()
    assert [m.headers for m in got] == [Headers(origin="feed")] * 2


# ------------------------------------------------------------------------- echo


async def test_a_subscription_without_echo_does_not_receive_its_own_output() -> None:
    async with EventBus() as bus:
        service = bus.subscribe("items.>", name="svc", echo=False)
        listener = bus.subscribe("items.>", name="listener")
        bus.publish_nowait(Item(n=0), headers=Headers(origin="svc"))
        bus.publish_nowait(Item(n=1), headers=Headers(origin="other"))
        bus.publish_nowait(Item(n=2))
        await bus.publish(Item(n=3), headers=Headers(origin="svc"), wait=False)
        heard = [m.event.n for m in service.receive_batch_nowait()]
        everything = [m.event.n for m in listener.receive_batch_nowait()]
    assert heard == [1, 2]
    assert everything == [0, 1, 2, 3]


async def test_a_subscription_with_echo_receives_its_own_output() -> None:
    async with EventBus() as bus:
        service = bus.subscribe("items.>", name="svc")
        bus.publish_nowait(Item(n=0), headers=Headers(origin="svc"))
        assert [m.event.n for m in service.receive_batch_nowait()] == [0]


async def _run_self_publishing_service(*, echo: bool) -> tuple[list[int], bool]:
    """A service consumes ``orders.>`` with a small ``block`` buffer and answers each
    new order by publishing ``orders.done`` (a pattern it also consumes). Returns the
    orders done and whether everything came to a standstill with work left."""
    orders = 6
    async with EventBus() as bus, anyio.create_task_group() as tg:
        service = bus.subscribe("orders.>", name="svc", max_buffer=2, echo=echo)
        audit = bus.subscribe("orders.done", max_buffer=100)
        done: list[int] = []

        async def serve() -> None:
            async for message in service:
                if message.topic == "orders.new":
                    answer = {"done": message.event["n"]}
                    await bus.publish(answer, "orders.done", headers=Headers(origin="svc"))

        async def produce() -> None:
            for n in range(orders):
                await bus.publish({"n": n}, "orders.new")

        tg.start_soon(serve)
        tg.start_soon(produce)
        while len(done) < orders:
            await anyio.wait_all_tasks_blocked()
            batch = audit.receive_batch_nowait()
            if not batch:  # every task waits and nothing moves: a deadlock
                tg.cancel_scope.cancel()
                return done, True
            audit.ack(len(batch))
            done.extend(m.event["done"] for m in batch)
        tg.cancel_scope.cancel()
    return done, False


async def test_a_service_publishing_to_a_pattern_it_consumes_deadlocks_with_echo() -> None:
    done, stuck = await _run_self_publishing_service(echo=True)
    assert stuck
    assert len(done) < 6


async def test_echo_false_lets_a_service_publish_to_a_pattern_it_consumes() -> None:
    done, stuck = await _run_self_publishing_service(echo=False)
    assert not stuck
    assert done == list(range(6))


async def test_a_full_subscription_without_echo_does_not_hold_back_its_own_output() -> None:
    async with EventBus() as bus:
        service = bus.subscribe("items.>", name="svc", max_buffer=1, echo=False)
        bus.publish_nowait(Item(n=0))  # fills it
        with pytest.raises(BusFull, match=re.escape("'svc' is full")):
            bus.publish_nowait(Item(n=1))
        bus.publish_nowait(Item(n=2), headers=Headers(origin="svc"))  # not its business
        with anyio.fail_after(5):
            await bus.publish(Item(n=3), headers=Headers(origin="svc"), wait=True)
        assert [m.event.n for m in service.receive_batch_nowait()] == [0]


async def test_headers_that_are_not_headers_are_refused_by_name() -> None:
    async with EventBus() as bus:
        sub = bus.subscribe("items.>")
        with pytest.raises(TypeError, match=r"headers must be eventbus\.Headers or None, got True"):
            bus.publish_nowait(Item(n=0), "items.0", True)  # type: ignore[call-arg, arg-type]
        with pytest.raises(TypeError, match=r"headers must be eventbus\.Headers or None"):
            await bus.publish(Item(n=0), headers={"origin": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"headers must be eventbus\.Headers or None"):
            bus.publish_many_nowait([Item(n=0)], headers="x")  # type: ignore[arg-type]
        assert sub.statistics().buffered == 0
        assert bus.published == 0
