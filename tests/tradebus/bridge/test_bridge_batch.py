"""Ticks travel in batches (many events per NATS message), and are still stored
once each, in order; a bad event of a batch is a dead letter alone; a batch that
comes again is skipped as a whole."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import nats
import pytest
from nats.js import JetStreamContext

from schemas import Tick
from tests.reliability._helpers import read_only
from tests.tradebus.bridge._helpers import (
    MAIN,
    bot_node,
    consume_all,
    dead_letters,
    stored_tick_numbers,
    tick,
    unique_prefix,
)
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder, stream_name

pytestmark = pytest.mark.timeout(60)


def _ticks_in_commit_order(path: Path) -> list[int]:
    with read_only(path) as conn:
        rows = conn.execute("SELECT bid FROM unified_ticks ORDER BY seq").fetchall()
    return [round(bid - 1000.0) for (bid,) in rows]


async def _make_stream(path: Path, url: str, prefix: str, window: float = 120.0) -> None:
    async with (
        bot_node(path) as node,
        JetStreamConsumer(node, url, prefix=prefix, database="main", duplicate_window=window),
    ):
        pass


async def _publish_batch(
    js: JetStreamContext, prefix: str, seq: int, items: list[bytes], *, again: bool = False
) -> int:
    """Publish a batched message as forwarder lane ``hand.0`` would (message ``seq``);
    ``again``: a copy, published once the server forgot its Msg-Id."""
    origin = "hand.0"
    headers = {
        "Nats-Msg-Id": f"{origin}:{seq}",
        "Tradebus-Origin": origin,
        "Tradebus-Seq": str(seq),
        "Tradebus-Batch": str(len(items)),
    }
    subject = f"{prefix}.{tick(1, symbols=1).topic}"
    payload = msgspec.msgpack.encode(items)
    with anyio.fail_after(10):
        while True:
            ack = await js.publish(subject, payload, headers=headers)
            if not again or not ack.duplicate:
                return ack.seq
            await anyio.sleep(0.05)  # the de-duplication window is not past yet


def _one_symbol(numbers: range) -> list[bytes]:
    return [msgspec.msgpack.encode(tick(n, symbols=1)) for n in numbers]


async def test_a_burst_of_one_symbol_goes_in_fewer_messages_and_is_stored_once_in_order(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    ticks = [tick(n, symbols=1) for n in range(1, 3001)]  # one topic: one lane
    async with (
        bot_node(tmp_path / "a") as a,
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=["market.tick.>"]) as forwarder,
    ):
        await a.bus.publish_many(ticks[:2000])  # all waiting at once: batched
        for t in ticks[2000:]:
            await a.bus.publish(t)
        await a.bus.flush()
        statistics = forwarder.statistics()
    assert statistics.acked == 3000
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info(stream_name("main", prefix))
    finally:
        await client.close()
    assert info.state.messages == statistics.published
    assert info.state.messages < 2000  # the first 2000 at least went in batches
    consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    path = tmp_path / "b" / MAIN
    assert _ticks_in_commit_order(path) == list(range(1, 3001))
    assert consumer.statistics().consumed == 3000
    assert consumer.statistics().duplicates == 0


async def test_a_bad_tick_in_a_batch_is_a_dead_letter_alone(tmp_path: Path, nats_url: str) -> None:
    prefix = unique_prefix(tmp_path)
    await _make_stream(tmp_path / "b", nats_url, prefix)
    invalid = msgspec.msgpack.encode(Tick(symbol="S0", bid=-5.0, ask=1.0, ts=1))
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        first = await _publish_batch(js, prefix, 1, [*_one_symbol(range(1, 4)), invalid,
                                                     *_one_symbol(range(4, 6))])  # fmt: skip
        # A batch whose count is wrong: dead as a whole (its framing is not the bridge's).
        headers = {"Tradebus-Origin": "hand.0", "Tradebus-Seq": "2",
                   "Nats-Msg-Id": "hand.0:2", "Tradebus-Batch": "9"}  # fmt: skip
        subject = f"{prefix}.{tick(1, symbols=1).topic}"
        payload = msgspec.msgpack.encode(_one_symbol(range(90, 93)))
        wrong = (await js.publish(subject, payload, headers=headers)).seq
        await _publish_batch(js, prefix, 3, _one_symbol(range(6, 8)))
    finally:
        await client.close()
    consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    path = tmp_path / "b" / MAIN
    assert _ticks_in_commit_order(path) == [1, 2, 3, 4, 5, 6, 7]
    letters = dead_letters(path)
    assert [(topic, cursor) for topic, cursor, _ in letters] == [
        (f"{prefix}.market.tick.S0", first),  # the subject, as for any dead letter
        (f"{prefix}.market.tick.S0", wrong),
    ]
    assert "bid" in letters[0][2]
    assert "holds 3 event(s)" in letters[1][2]
    assert "says 9" in letters[1][2]
    assert consumer.statistics().dead_lettered == 2
    assert consumer.statistics().consumed == 7


async def test_a_batch_that_comes_again_stores_nothing_new(tmp_path: Path, nats_url: str) -> None:
    prefix = unique_prefix(tmp_path)
    await _make_stream(tmp_path / "b", nats_url, prefix, window=0.1)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await _publish_batch(js, prefix, 1, _one_symbol(range(1, 4)))
        await _publish_batch(js, prefix, 1, _one_symbol(range(1, 4)), again=True)
        await _publish_batch(js, prefix, 2, _one_symbol(range(4, 6)))
        consumer = await consume_all(tmp_path / "b", nats_url, prefix)
        assert stored_tick_numbers(tmp_path / "b" / MAIN) == [1, 2, 3, 4, 5]
        assert consumer.statistics().duplicates == 3  # in the same run
        # Copies after a restart: the lane's mark was committed with the ticks.
        await _publish_batch(js, prefix, 2, _one_symbol(range(4, 6)), again=True)
        await _publish_batch(js, prefix, 1, _one_symbol(range(1, 4)), again=True)
        assert (await js.stream_info(stream_name("main", prefix))).state.messages == 5
    finally:
        await client.close()
    again = await consume_all(tmp_path / "b", nats_url, prefix)
    assert stored_tick_numbers(tmp_path / "b" / MAIN) == [1, 2, 3, 4, 5]
    assert _ticks_in_commit_order(tmp_path / "b" / MAIN) == [1, 2, 3, 4, 5]
    assert again.statistics().duplicates == 5
    assert again.statistics().consumed == 0


async def test_symbols_sharing_a_lane_are_batched_each_in_its_own_order(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    ticks = [tick(n, symbols=3) for n in range(1, 1501)]  # S1, S2, S0, S1, ...
    async with (
        bot_node(tmp_path / "a") as a,
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=["market.tick.>"], lanes=1) as fwd,
    ):
        await a.bus.publish_many(ticks)  # interleaved symbols, one lane
        await a.bus.flush()
        statistics = fwd.statistics()
    assert statistics.acked == 1500
    assert statistics.published < 1500  # each message: ticks of one symbol
    consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    committed = _ticks_in_commit_order(tmp_path / "b" / MAIN)
    assert sorted(committed) == list(range(1, 1501))
    for symbol in range(3):  # the order of each symbol (topic) is kept
        numbers = [n for n in committed if n % 3 == symbol]
        assert numbers == sorted(numbers)
    assert consumer.statistics().consumed == 1500
