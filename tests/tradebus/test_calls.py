"""How a call's events are published: together when one database stores them."""

from __future__ import annotations

import anyio

from eventbus import EventBus, Message
from schemas import Event, PositionUpdate, RecommendationUpdate, TradeExecution
from tests.schemas._samples import sample
from tradebus import Topology
from tradebus._calls import publish_together


def _home_writer(event: Event) -> str | None:
    """What a node hosting every role says: each database's writer takes its events."""
    spec = Topology.default().home(event)
    return None if spec is None else spec.name


async def _publish_and_receive(events: list[Event]) -> list[list[Message]]:
    """Publish ``events`` with :func:`publish_together`; return the batches a consumer
    of every topic received (acknowledging each)."""
    batches: list[list[Message]] = []
    async with EventBus() as bus:
        subscription = bus.subscribe(">", durable=True)

        async def consume() -> None:
            while True:
                batch = await subscription.receive_batch(100, 0.0)
                batches.append(batch)
                subscription.ack(len(batch))

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await publish_together(bus, _home_writer, events)
            tg.cancel_scope.cancel()
    return batches


async def test_events_one_database_stores_are_published_as_one_atomic_group() -> None:
    events = [sample(TradeExecution), sample(PositionUpdate)]  # both: main
    batches = await _publish_and_receive(events)
    assert len(batches) == 1  # delivered together, acknowledged together
    [batch] = batches
    assert [m.event for m in batch] == events
    assert {m.group for m in batch} == {batch[-1].seq}


async def test_events_of_two_databases_are_published_one_after_the_other() -> None:
    # A trade (main) and its recommendation's update (analysis): no transaction spans
    # two files, so the second goes once the first is acknowledged.
    events = [sample(TradeExecution), sample(RecommendationUpdate)]
    batches = await _publish_and_receive(events)
    assert [[m.event for m in batch] for batch in batches] == [[events[0]], [events[1]]]
    assert all(m.group == 0 for batch in batches for m in batch)
