"""Events the writer refuses (valid events the committed state rejects) that came over
the bridge: each goes to dead_letters alone, with its own reason; the good events of
the other messages fetched with it are stored, once each, across restarts too."""

from __future__ import annotations

from pathlib import Path

import msgspec
import nats
import pytest
from nats.js import JetStreamContext

from schemas import TradeExecution
from tests.reliability._helpers import read_only
from tests.tradebus.bridge._helpers import (
    MAIN,
    consume_all,
    dead_letters,
    make_stream,
    stored_tick_numbers,
    tick,
    unique_prefix,
)
from tradebus.bridge import stream_name

pytestmark = pytest.mark.timeout(60)


def _executions(path: Path) -> list[tuple[int, str, float]]:
    with read_only(path) as conn:
        rows = conn.execute(
            "SELECT ticket, direction, volume FROM trade_executions ORDER BY ticket"
        ).fetchall()
    return [(ticket, direction, volume) for ticket, direction, volume in rows]


def _stream_cursor(path: Path, prefix: str) -> int:
    source = f"nats:{stream_name('main', prefix)}/tradebus"
    with read_only(path) as conn:
        row = conn.execute("SELECT cursor FROM relay_cursors WHERE source = ?", (source,))
        return int(row.fetchone()[0])


async def _round(js: JetStreamContext, prefix: str, ticket: int, lane_seq: int) -> list[int]:
    """Publish, each in its own message: a good execution, a lane's batch of two ticks,
    a raw tick, an execution on the same ticket under another event_id (refused), a
    replay of the good one's event_id with another volume (refused), a raw tick.
    Returns the stream sequences of the two refused messages."""
    good = TradeExecution(
        ticket=ticket, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=1.0
    )
    other = TradeExecution(
        ticket=ticket, symbol="EURUSD", direction="SELL", entry_price=1.2, volume=2.0
    )
    again = msgspec.structs.replace(good, volume=5.0)  # its event_id, other content
    n = ticket * 10
    refused = []

    async def publish(event: object, *, refuse: bool = False) -> None:
        topic = event.topic  # type: ignore[attr-defined]
        ack = await js.publish(f"{prefix}.{topic}", msgspec.msgpack.encode(event))
        if refuse:
            refused.append(ack.seq)

    await publish(good)
    batch = [msgspec.msgpack.encode(tick(n + i, symbols=1)) for i in (1, 2)]
    headers = {"Nats-Msg-Id": f"hand.0:{lane_seq}", "Tradebus-Origin": "hand.0",
               "Tradebus-Seq": str(lane_seq), "Tradebus-Batch": "2"}  # fmt: skip
    await js.publish(
        f"{prefix}.{tick(1, symbols=1).topic}", msgspec.msgpack.encode(batch), headers=headers
    )
    await publish(tick(n + 3))
    await publish(other, refuse=True)
    await publish(again, refuse=True)
    await publish(tick(n + 4))
    return refused


async def test_a_refused_event_takes_no_good_event_of_its_fetch_to_dead_letters(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    path = tmp_path / "b" / MAIN
    await make_stream(tmp_path / "b", nats_url, prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        refused = []
        for k in range(5):  # all in the stream first: the consumer fetches them at once
            refused += await _round(js, prefix, 90 + k, lane_seq=k + 1)
        first = await consume_all(tmp_path / "b", nats_url, prefix)
        last = (await js.stream_info(stream_name("main", prefix))).state.last_seq
        # Stored once each, refused ones alone in dead_letters with their own reason.
        assert _executions(path) == [(90 + k, "BUY", 1.0) for k in range(5)]
        ticks = sorted(10 * t + i for t in range(90, 95) for i in (1, 2, 3, 4))
        assert stored_tick_numbers(path) == ticks
        letters = dead_letters(path)
        assert sorted(cursor for _, cursor, _ in letters if cursor is not None) == refused
        assert len(letters) == len(refused) == 10
        for topic, _cursor, error in letters:
            assert topic == "trade.execution.EURUSD"  # the topic on the bus
            assert "IntegrityError" in error
            assert "published in a group" not in error
        assert first.statistics().dead_lettered == 0  # refused by the writer, not by it
        assert _stream_cursor(path, prefix) == last

        # A restart stores nothing twice; more rounds, fetched a few at a time (the
        # groups of one fetch and the next meet), store the rest once too.
        for k in range(5, 8):
            refused += await _round(js, prefix, 90 + k, lane_seq=k + 1)
        await consume_all(tmp_path / "b", nats_url, prefix, batch=4)
        last = (await js.stream_info(stream_name("main", prefix))).state.last_seq
    finally:
        await client.close()
    again = await consume_all(tmp_path / "b", nats_url, prefix)
    assert again.statistics().consumed == 0
    assert _executions(path) == [(90 + k, "BUY", 1.0) for k in range(8)]
    ticks = sorted(10 * t + i for t in range(90, 98) for i in (1, 2, 3, 4))
    assert stored_tick_numbers(path) == ticks
    letters = dead_letters(path)
    assert sorted(cursor for _, cursor, _ in letters if cursor is not None) == refused
    assert all("published in a group" not in error for _, _, error in letters)
    assert _stream_cursor(path, prefix) == last
