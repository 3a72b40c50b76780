"""Statistics: what a bus and its subscriptions count and how a subscription shows itself."""

from __future__ import annotations

from eventbus import EventBus, Subscription

from ._bus_helpers import Item


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
