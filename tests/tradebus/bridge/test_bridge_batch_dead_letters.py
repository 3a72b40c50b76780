"""The bad events of a forwarder's batch reach dead_letters even when recording them
fails once (the database away for a moment, or the consumer dying right there): the
message comes again, and its good events are not stored twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec
import nats
import pytest
from nats.js import JetStreamContext

from schemas import Tick
from tests.tradebus.bridge._helpers import (
    MAIN,
    bot_node,
    dead_letters,
    make_stream,
    stored_tick_numbers,
    tick,
    unique_prefix,
)
from tests.writers._helpers import wait_until
from tradebus.bridge import JetStreamConsumer, stream_name

pytestmark = pytest.mark.timeout(60)
_INVALID = msgspec.msgpack.encode(Tick(symbol="S0", bid=-5.0, ask=1.0, ts=1))


async def _publish_batch(
    js: JetStreamContext, prefix: str, seq: int, items: list[bytes], *, again: bool = False
) -> int:
    """Publish a batch as forwarder lane ``hand.0`` would (its message ``seq``);
    ``again``: a copy, published once the server forgot its Msg-Id."""
    headers = {"Nats-Msg-Id": f"hand.0:{seq}", "Tradebus-Origin": "hand.0",
               "Tradebus-Seq": str(seq), "Tradebus-Batch": str(len(items))}  # fmt: skip
    subject = f"{prefix}.{tick(1, symbols=1).topic}"
    with anyio.fail_after(10):
        while True:
            ack = await js.publish(subject, msgspec.msgpack.encode(items), headers=headers)
            if not again or not ack.duplicate:
                return ack.seq
            await anyio.sleep(0.05)  # the de-duplication window is not past yet


def _ticks(numbers: Sequence[int]) -> list[bytes]:
    return [msgspec.msgpack.encode(tick(n, symbols=1)) for n in numbers]


class _FailsOnce:
    """Stands for a store's ``record_dead_letters``: the first call raises ``error``
    (nothing recorded), the others record."""

    def __init__(self, record: Any, error: BaseException) -> None:
        self.record, self.error = record, error
        self.calls = 0

    async def __call__(self, failures: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        await self.record(failures)


async def _last(js: JetStreamContext, prefix: str) -> int:
    return int((await js.stream_info(stream_name("main", prefix))).state.last_seq)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "away"),
        # What a store itself says is passing (SQLite busy; PostgreSQL starting up).
        sqlite3.OperationalError("database is locked"),
    ],
    ids=["refused", "busy"],
)
async def test_a_batchs_bad_event_is_recorded_after_a_failed_first_try(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    prefix = unique_prefix(tmp_path)
    await make_stream(tmp_path / "b", nats_url, prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        batch = await _publish_batch(js, prefix, 1, [*_ticks([1, 2]), _INVALID, *_ticks([3])])
        await _publish_batch(js, prefix, 2, _ticks([4, 5]))
        last = await _last(js, prefix)
        async with bot_node(tmp_path / "b") as node:
            store = node.writer("main").sqlite
            # What a database away for a moment raises (retryable for the consumer).
            flaky = _FailsOnce(store.record_dead_letters, error)
            monkeypatch.setattr(store, "record_dead_letters", flaky)
            consumer = JetStreamConsumer(node, nats_url, prefix=prefix, database="main")
            async with consumer:
                with anyio.fail_after(30):
                    await wait_until(lambda: consumer.statistics().acked >= last)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2, 3, 4, 5]
    letters = dead_letters(path)
    assert [(topic, cursor) for topic, cursor, _ in letters] == [
        (f"{prefix}.market.tick.S0", batch)
    ]
    assert "bid" in letters[0][2]
    assert flaky.calls == 2  # it failed once, and was tried again
    assert consumer.statistics().restarts >= 2


async def test_a_batchs_bad_event_is_recorded_by_the_next_run_if_the_consumer_dies_first(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_prefix(tmp_path)
    await make_stream(tmp_path / "b", nats_url, prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await _publish_batch(js, prefix, 1, _ticks([1]))
        batch = await _publish_batch(js, prefix, 2, [*_ticks([2, 3]), _INVALID])
        await _publish_batch(js, prefix, 3, _ticks([4]))
        last = await _last(js, prefix)
        async with bot_node(tmp_path / "b") as node:
            store = node.writer("main").sqlite
            # The consumer dies between the batch's good events (committed) and its
            # bad event's dead letter (not recorded).
            dies = _FailsOnce(store.record_dead_letters, RuntimeError("the consumer dies"))
            monkeypatch.setattr(store, "record_dead_letters", dies)
            consumer = JetStreamConsumer(node, nats_url, prefix=prefix, database="main")
            with pytest.RaisesGroup(RuntimeError, allow_unwrapped=True, flatten_subgroups=True):
                async with consumer:
                    with anyio.fail_after(30):
                        await wait_until(lambda: False)
            assert dies.calls == 1
            assert stored_tick_numbers(tmp_path / "b" / MAIN) == [1, 2, 3]
            assert dead_letters(tmp_path / "b" / MAIN) == []
            monkeypatch.undo()
            again = JetStreamConsumer(node, nats_url, prefix=prefix, database="main")
            async with again:
                with anyio.fail_after(30):
                    await wait_until(lambda: again.statistics().acked >= last)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2, 3, 4]
    letters = dead_letters(path)
    assert [(topic, cursor) for topic, cursor, _ in letters] == [
        (f"{prefix}.market.tick.S0", batch)
    ]


async def test_a_copy_of_a_batch_with_a_bad_event_records_it_once(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    async with (
        bot_node(tmp_path / "b") as node,
        JetStreamConsumer(node, nats_url, prefix=prefix, database="main", duplicate_window=0.1),
    ):
        pass
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        batch = await _publish_batch(js, prefix, 1, [*_ticks([1]), _INVALID])
        await _publish_batch(js, prefix, 1, [*_ticks([1]), _INVALID], again=True)
        await _publish_batch(js, prefix, 2, _ticks([2]))
        last = await _last(js, prefix)
        async with bot_node(tmp_path / "b") as node:
            consumer = JetStreamConsumer(node, nats_url, prefix=prefix, database="main")
            async with consumer:
                with anyio.fail_after(30):
                    await wait_until(lambda: consumer.statistics().acked >= last)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2]
    assert [cursor for _, cursor, _ in dead_letters(path)] == [batch]
