"""Events that arrive encoded (foreign): a message decodes its data lazily and once,
with the bus's decoder."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

import schemas
from eventbus import BusFull, EventBus, Message
from schemas import Tick

from ._bus_helpers import Item


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
