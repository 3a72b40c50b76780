"""A bus belongs to one thread: publishing from another raises instead of racing it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import msgspec
import pytest

import schemas
from eventbus import EventBus, EventBusError
from schemas import Tick


def tick(n: int) -> Tick:
    return Tick(symbol="EURUSD", bid=1.0 + n / 1000, ask=1.1 + n / 1000, ts=1_000 + n)


def encoded(n: int) -> tuple[bytes, str]:
    event = tick(n)
    return msgspec.msgpack.encode(event), event.topic


#: Every way to publish without waiting, called with the bus and a fresh number.
NOWAIT: dict[str, Callable[[EventBus, int], Any]] = {
    "publish_nowait": lambda bus, n: bus.publish_nowait(tick(n)),
    "publish_many_nowait": lambda bus, n: bus.publish_many_nowait([tick(n), tick(n + 1)]),
    "publish_encoded_nowait": lambda bus, n: bus.publish_encoded_nowait(*encoded(n)),
    "publish_encoded_many_nowait": lambda bus, n: bus.publish_encoded_many_nowait(
        [encoded(n), encoded(n + 1)]
    ),
}


def refused_from_another_thread(call: Callable[[], Any]) -> EventBusError:
    """Run ``call`` in a new thread named ``intruder``; return the EventBusError it
    raised there (and fail if it raised nothing else or nothing)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed back to the test's thread
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name="intruder")
    thread.start()
    thread.join(timeout=30)
    assert outcome, "the call from the other thread did not finish"
    error = outcome[0]
    assert isinstance(error, EventBusError), f"expected EventBusError, got {error!r}"
    return error


@pytest.mark.parametrize("admit", [False, True], ids=["plain", "admitting"])
@pytest.mark.parametrize("method", list(NOWAIT))
async def test_a_nowait_publish_from_another_thread_raises_and_delivers_nothing(
    method: str, admit: bool
) -> None:
    publish = NOWAIT[method]
    async with EventBus(
        admit=schemas.admit if admit else None, decoder=schemas.decode if admit else None
    ) as bus:
        sub = bus.subscribe("market.>")
        # Two messages buffered: the next publish of a tick would only append (the
        # hot path), as the first one of a batch would not: both paths are checked.
        for n in range(2):
            assert bus.publish_nowait(tick(n)) == n + 1
        error = refused_from_another_thread(lambda: publish(bus, 10))
        for part in (f"{method}()", "publish_threadsafe", "'intruder'", "event loop"):
            assert part in str(error)
        assert "nothing was delivered" in str(error)
        assert (bus.published, sub.statistics().buffered) == (2, 2)
        received = await sub.receive_batch(100, 0)
        sub.ack(len(received))
        assert [m.seq for m in received] == [1, 2]
        # An empty buffer (the first message of a batch: the slow path) refuses too.
        error = refused_from_another_thread(lambda: publish(bus, 10))
        assert "publish_threadsafe" in str(error)
        assert (bus.published, sub.statistics().buffered) == (2, 0)
        # The loop's own thread goes on publishing, and so does publish_threadsafe.
        assert publish(bus, 20) is not None
        seq = await anyio.to_thread.run_sync(bus.publish_threadsafe, tick(30))
        received = await sub.receive_batch(100, 0)
    assert received[-1].seq == seq == bus.published
    assert received[-1].event == tick(30)


@pytest.mark.parametrize("method", ["publish", "publish_many"])
async def test_an_awaited_publish_on_another_threads_event_loop_raises(method: str) -> None:
    async with EventBus() as bus:
        sub = bus.subscribe("market.>")

        async def elsewhere() -> None:
            if method == "publish":
                await bus.publish(tick(1))
            else:
                await bus.publish_many([tick(1)])

        error = refused_from_another_thread(lambda: asyncio.run(elsewhere()))
        assert f"{method}()" in str(error)
        assert "publish_threadsafe" in str(error)
        assert bus.published == 0
        assert sub.statistics().buffered == 0


async def test_a_bus_not_entered_belongs_to_the_thread_that_made_it() -> None:
    bus = EventBus()
    sub = bus.subscribe("market.>")
    bus.publish_nowait(tick(0))
    error = refused_from_another_thread(lambda: bus.publish_nowait(tick(1)))
    assert "not entered yet" in str(error)
    assert "publish_threadsafe" in str(error)
    assert [m.seq for m in sub.receive_batch_nowait()] == [1]


async def test_a_bus_made_in_another_thread_belongs_to_the_loop_that_enters_it() -> None:
    bus: EventBus = await anyio.to_thread.run_sync(EventBus)
    async with bus:
        sub = bus.subscribe("market.>")
        assert [bus.publish_nowait(tick(n)) for n in range(3)] == [1, 2, 3]
        assert bus.publish_many_nowait([tick(3), tick(4)]) == [4, 5]
        received = await sub.receive_batch(100, 0)
    assert [m.seq for m in received] == [1, 2, 3, 4, 5]


def test_a_thread_given_the_ident_of_the_dead_maker_is_not_taken_for_it() -> None:
    made: dict[str, Any] = {}

    def make() -> None:
        made["bus"] = EventBus()
        made["ident"] = threading.get_ident()

    maker = threading.Thread(target=make)
    maker.start()
    maker.join()
    bus: EventBus = made["bus"]
    sub = bus.subscribe("market.>")
    outcomes: list[tuple[bool, dict[str, str]]] = []

    def attempt() -> None:
        seen: dict[str, str] = {}
        for name, call in {**NOWAIT, "publish_each_nowait": _each}.items():
            try:
                call(bus, 0)
                seen[name] = "delivered"
            except EventBusError:
                seen[name] = "refused"
        outcomes.append((threading.get_ident() == made["ident"], seen))

    # Threads started one after another usually get the ident of the one before.
    for _ in range(20):
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
    assert all(set(seen.values()) == {"refused"} for _, seen in outcomes)
    assert bus.published == 0
    assert sub.statistics().buffered == 0
    if not any(reused for reused, _ in outcomes):
        pytest.skip("no thread was given the dead maker's ident here: only others were tried")


def _each(bus: EventBus, n: int) -> int:
    return bus.publish_each_nowait([tick(n)])
