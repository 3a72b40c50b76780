"""The bridge against what goes wrong: bad and foreign messages, deliveries again,
a forwarder's retry after the de-duplication window, a server away."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import msgspec
import nats
import nats.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from schemas import Tick, TradeAlert
from tests.tradebus.bridge._helpers import (
    MAIN,
    bot_node,
    dead_letters,
    execution,
    make_stream,
    private_nats,
    stored_executions,
    stored_tick_numbers,
    tick,
    unique_prefix,
)
from tests.writers._helpers import wait_until
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder, stream_name

pytestmark = pytest.mark.timeout(60)
TOPICS = ["market.tick.>", "trade.execution.>"]


async def consume_all(path: Path, url: str, prefix: str, **options: object) -> JetStreamConsumer:
    """Run a consumer into the node at ``path`` until it acknowledged the whole stream."""
    stream = stream_name("main", prefix)
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        async with bot_node(path) as node:
            consumer = JetStreamConsumer(node, url, prefix=prefix, database="main", **options)  # type: ignore[arg-type]
            async with consumer:
                with anyio.fail_after(30):
                    await wait_until(lambda: consumer.statistics().acked >= last)
    finally:
        await client.close()
    return consumer


async def test_bad_and_foreign_messages_go_to_dead_letters_and_are_acknowledged(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    stream = stream_name("main", prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await make_stream(tmp_path / "b", nats_url, prefix)
        info = await js.stream_info(stream)
        await js.update_stream(
            info.config.evolve(subjects=[*(info.config.subjects or []), f"{prefix}.other.thing"])
        )
        subject = f"{prefix}.market.tick.S1"
        alert = TradeAlert(alert_type="risk", severity="critical", message="x")
        invalid = Tick(symbol="S1", bid=-5.0, ask=1.0, ts=1)  # a negative price
        bad: list[tuple[str, bytes]] = [
            (subject, b"\xc1 not msgpack"),
            (subject, msgspec.msgpack.encode(["NoSuchEvent", 1, 2])),
            (subject, msgspec.msgpack.encode(invalid)),
            (subject, msgspec.msgpack.encode(alert)),  # another topic's event
            (f"{prefix}.other.thing", msgspec.msgpack.encode(tick(99))),  # no database's
        ]
        bad_seqs = []
        for n, (bad_subject, data) in enumerate(bad, start=1):
            await js.publish(f"{prefix}.{tick(n).topic}", msgspec.msgpack.encode(tick(n)))
            bad_seqs.append((await js.publish(bad_subject, data)).seq)
        await js.publish(f"{prefix}.{tick(6).topic}", msgspec.msgpack.encode(tick(6)))
        consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2, 3, 4, 5, 6]
    letters = dead_letters(path)
    assert [cursor for _, cursor, _ in letters] == bad_seqs
    reasons = [error for _, _, error in letters]
    assert "malformed msgpack" in reasons[0]
    assert "NoSuchEvent" in reasons[1] or "tag" in reasons[1]
    assert "bid" in reasons[2]
    assert "logs.alert" in reasons[3]
    assert "belongs to no database" in reasons[4]
    assert consumer.statistics().dead_lettered == 5


async def test_what_was_committed_and_not_acknowledged_comes_again_and_is_not_stored_twice(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    async with (
        bot_node(tmp_path / "a") as a,
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=TOPICS),
    ):
        for n in range(1, 301):
            await a.bus.publish(tick(n))
            if n <= 100 and n % 10 == 0:
                await a.bus.publish(execution(n))
            if n == 100:  # ticks only after the last execution
                await a.bus.flush()
        await a.bus.flush()
    # One message per fetch: the last ones hold ticks only (the cursor they commit is
    # their forwarder lanes' high-water marks, not the stream's).
    await consume_all(tmp_path / "b", nats_url, prefix, batch=1)
    # As if the consumer died after its commits and before its acknowledgements:
    # JetStream delivers everything again from the start.
    stream = stream_name("main", prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await js.delete_consumer(stream, "tradebus")
        await js.add_consumer(
            stream,
            ConsumerConfig(durable_name="tradebus", deliver_policy=DeliverPolicy.ALL,
                           ack_policy=AckPolicy.ALL),
        )  # fmt: skip
    finally:
        await client.close()
    again = await consume_all(tmp_path / "b", nats_url, prefix)
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == list(range(1, 301))
    assert stored_executions(path) == list(range(10, 101, 10))
    # The ticks after the stream cursor came again, and were recognised.
    statistics = again.statistics()
    tail = await _events_after(nats_url, stream, statistics.started_at)
    assert statistics.started_at > 0
    assert tail >= 200  # ticks 101..300 at least
    assert statistics.duplicates == tail
    assert statistics.consumed == 0


async def _events_after(nats_url: str, stream: str, after: int) -> int:
    """How many events the stream's messages after ``after`` carry (a batch: many)."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        count = 0
        for seq in range(after + 1, last + 1):
            headers = (await js.get_msg(stream, seq)).headers or {}
            count += int(headers.get("Tradebus-Batch", "1"))
        return count
    finally:
        await client.close()


async def test_a_retry_after_the_duplicate_window_is_stored_once(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    stream = stream_name("main", prefix)
    async with (
        bot_node(tmp_path / "a") as a,
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=TOPICS, duplicate_window=0.1),
    ):
        for n in range(1, 101):
            await a.bus.publish(tick(n))
            if n % 10 == 0:
                await a.bus.publish(execution(n))
        await a.bus.flush()
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        sent = [await js.get_msg(stream, seq) for seq in range(1, last + 1)]
        await anyio.sleep(0.3)  # the server forgets the ids after its window
        # What a forwarder retrying after a long outage sends: the same messages.
        for message in sent:
            assert message.subject is not None
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if not k.startswith("Nats-Expected")
            }
            ack = await js.publish(message.subject, message.data or b"", headers=headers)
            assert not ack.duplicate  # stored a second time: the window is past
    finally:
        await client.close()
    consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == list(range(1, 101))
    assert stored_executions(path) == list(range(10, 101, 10))
    assert consumer.statistics().duplicates == 100  # the ticks; executions by event_id


async def test_the_forwarder_holds_a_bounded_number_while_the_server_is_away(
    tmp_path: Path,
) -> None:
    server = private_nats(tmp_path / "nats")
    prefix = "away"
    published = 0
    try:
        async with bot_node(tmp_path / "a") as a:
            forwarder = JetStreamForwarder(
                a, server.url, prefix=prefix, topics=TOPICS, lanes=4, max_in_flight=100,
                publish_timeout=0.2,
            )  # fmt: skip
            async with forwarder:
                server.kill()

                async def publish() -> None:
                    nonlocal published
                    for n in range(1, 2001):
                        await a.bus.publish(tick(n))
                        published = n
                    await a.bus.flush()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(publish)
                    with anyio.fail_after(20):  # the publisher waits: the buffers are full
                        await wait_until(
                            lambda: forwarder.statistics().in_flight == 100 and published >= 200
                        )
                    for _ in range(20):  # a while later, it still waits
                        await anyio.sleep(0.02)
                        assert forwarder.statistics().in_flight <= 100
                        # Taken (100) and buffered (100): no more.
                        assert published <= 201
                    server.start()
                assert forwarder.statistics().in_flight == 0
                assert forwarder.statistics().retries > 0
        await consume_all(tmp_path / "b", server.url, prefix)
    finally:
        server.stop()
    assert stored_tick_numbers(tmp_path / "b" / MAIN) == list(range(1, 2001))


async def test_a_message_deleted_from_the_stream_is_a_gap_the_consumer_passes(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    stream = stream_name("main", prefix)
    await make_stream(tmp_path / "b", nats_url, prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        for n in range(1, 11):
            await js.publish(f"{prefix}.{tick(n).topic}", msgspec.msgpack.encode(tick(n)))
        await js.delete_msg(stream, 5)
    finally:
        await client.close()
    consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    assert stored_tick_numbers(tmp_path / "b" / MAIN) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert consumer.statistics().restarts == 1  # not made again: the gap is a deletion


async def test_a_delivery_lost_to_another_reader_is_fetched_again_not_skipped(
    tmp_path: Path, nats_url: str
) -> None:
    """JetStream delivers newer messages before it delivers a lost one again: the
    consumer sees the hole, makes its durable consumer again after what it handed,
    and stores the lost message (a "highest sequence seen" cursor would skip it)."""
    prefix = unique_prefix(tmp_path)
    stream = stream_name("main", prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        async with bot_node(tmp_path / "b") as node:
            consumer = JetStreamConsumer(
                node, nats_url, prefix=prefix, database="main", batch=5, fetch_wait=0.05
            )
            async with consumer:
                # Another reader of the same durable consumer takes deliveries and
                # never acknowledges them: they are lost to ours until ack_wait.
                thief = await js.pull_subscribe_bind(durable="tradebus", stream=stream)
                n, stolen = 0, 0
                while not stolen and n < 500:
                    n += 1
                    await js.publish(f"{prefix}.{tick(n).topic}", msgspec.msgpack.encode(tick(n)))
                    with contextlib.suppress(nats.errors.TimeoutError):  # ours took it
                        stolen = len(await thief.fetch(1, timeout=0.05))
                assert stolen, "the other reader never got a delivery"
                for _ in range(5):  # newer messages: delivered to ours first
                    n += 1
                    await js.publish(f"{prefix}.{tick(n).topic}", msgspec.msgpack.encode(tick(n)))
                with anyio.fail_after(20):
                    await wait_until(lambda: consumer.statistics().acked >= n)
    finally:
        await client.close()
    assert stored_tick_numbers(tmp_path / "b" / MAIN) == list(range(1, n + 1))
    assert consumer.statistics().restarts >= 2  # made again after the hole


async def test_messages_with_bad_forwarder_headers_go_to_dead_letters(
    tmp_path: Path, nats_url: str
) -> None:
    """A lane number that is not a plain number from 1 to 2**63 - 1 (a digit of
    another script, one too large for a cursor, zero, a word) is a dead letter: never
    the end of the consumer, never a cursor."""
    prefix = unique_prefix(tmp_path)
    subject = f"{prefix}.market.tick.S1"
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await make_stream(tmp_path / "b", nats_url, prefix)
        bad_seqs = []
        for n, seq in enumerate(["\u00b2", "9" * 25, "0", "abc"], start=1):
            await js.publish(f"{prefix}.{tick(n).topic}", msgspec.msgpack.encode(tick(n)))
            headers = {"Tradebus-Origin": "o1", "Tradebus-Seq": seq, "Nats-Msg-Id": f"o1:{seq}"}
            data = msgspec.msgpack.encode(Tick(symbol="S1", bid=2000.0 + n, ask=2001.0 + n, ts=n))
            bad_seqs.append((await js.publish(subject, data, headers=headers)).seq)
        await js.publish(f"{prefix}.{tick(5).topic}", msgspec.msgpack.encode(tick(5)))
        await consume_all(tmp_path / "b", nats_url, prefix)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2, 3, 4, 5]
    letters = dead_letters(path)
    assert [cursor for _, cursor, _ in letters] == bad_seqs
    assert all("bad forwarder headers" in error for _, _, error in letters)


async def test_a_message_the_server_never_delivers_is_read_directly(
    tmp_path: Path, nats_url: str
) -> None:
    """A message stored with headers that read as a NATS status line is never handed
    out by a pull consumer: after a few tries, the consumer reads it from the stream
    itself and goes on (no endless restarts)."""
    prefix = unique_prefix(tmp_path)
    subject = f"{prefix}.{tick(2).topic}"
    host, port = nats_url.removeprefix("nats://").split(":")
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await make_stream(tmp_path / "b", nats_url, prefix)
        await js.publish(f"{prefix}.{tick(1).topic}", msgspec.msgpack.encode(tick(1)))
        # The raw protocol, as any client may write it: a header block that starts with
        # a status (404), then a valid tick.
        payload = msgspec.msgpack.encode(tick(2))
        head = b"NATS/1.0 404\r\n\r\n"
        stream = await anyio.connect_tcp(host, int(port))
        async with stream:
            await stream.receive()  # INFO
            await stream.send(b'CONNECT {"verbose":false,"headers":true}\r\n')
            await stream.send(
                f"HPUB {subject} {len(head)} {len(head) + len(payload)}\r\n".encode()
                + head + payload + b"\r\nPING\r\n"
            )  # fmt: skip
            with anyio.fail_after(10):
                reply = b""
                while b"PONG" not in reply:
                    reply += await stream.receive()
        await js.publish(f"{prefix}.{tick(3).topic}", msgspec.msgpack.encode(tick(3)))
        info = await js.stream_info(stream_name("main", prefix))
        assert info.state.messages == 3  # the raw one is in the stream
        consumer = await consume_all(tmp_path / "b", nats_url, prefix)
    finally:
        await client.close()
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == [1, 2, 3]
    assert consumer.statistics().restarts < 10
