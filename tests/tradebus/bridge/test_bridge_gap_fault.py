"""The server goes away while the consumer checks a gap in the middle of a batch: the
events it took from the batch before the gap are stored all the same, once each."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamInfo

from bench.servers import NatsServer
from tests.tradebus.bridge._helpers import (
    MAIN,
    bot_node,
    execution,
    private_nats,
    stored_executions,
    stored_tick_numbers,
    tick,
)
from tests.writers._helpers import wait_until
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder, stream_name

pytestmark = pytest.mark.timeout(60)
TOPICS = ["market.tick.>", "trade.execution.>"]


class _ServerGoesAway(JetStreamContext):
    """The consumer's JetStream context, whose first ``stream_info`` (the consumer's
    check of a gap) finds the server killed: the call fails for real. The server is
    started again before the failure reaches the consumer."""

    def __init__(self, client: Client, server: NatsServer) -> None:
        super().__init__(client, timeout=10.0)
        self.client, self.server = client, server
        self.failures: list[BaseException] = []

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> StreamInfo:
        if not self.failures:
            self.server.kill()
            try:  # a short timeout: the request waits for the server otherwise
                await self.client.jetstream(timeout=0.5).stream_info(name, subjects_filter)
            except Exception as exc:
                self.failures.append(exc)
                raise
            finally:
                await anyio.to_thread.run_sync(self.server.start)
            raise AssertionError("the server answered once killed")
        return await super().stream_info(name, subjects_filter)


async def test_a_failed_gap_check_mid_batch_loses_none_of_the_batch(tmp_path: Path) -> None:
    server = private_nats(tmp_path / "nats")
    prefix = "gapcheck"
    stream = stream_name("main", prefix)
    try:
        async with (
            bot_node(tmp_path / "a") as a,
            JetStreamForwarder(a, server.url, prefix=prefix, topics=TOPICS) as forwarder,
        ):
            for n in range(1, 201):
                await a.bus.publish(tick(n))
                if n % 10 == 0:
                    await a.bus.publish(execution(n))
                if n == 100:
                    await a.bus.flush()  # all forwarded: what follows comes after a gap
                    client = await nats.connect(server.url)
                    try:  # a message deleted from the stream: a gap in its sequence
                        js = client.jetstream()
                        stray = msgspec.msgpack.encode(tick(0))
                        ack = await js.publish(f"{prefix}.{tick(0).topic}", stray)
                        await js.delete_msg(stream, ack.seq)
                    finally:
                        await client.close()
            await a.bus.flush()
            assert forwarder.statistics().acked == 220  # every event is in the stream
        client = await nats.connect(server.url)
        try:
            last = (await client.jetstream().stream_info(stream)).state.last_seq
        finally:
            await client.close()
        async with bot_node(tmp_path / "b") as node:
            consumer = JetStreamConsumer(node, server.url, prefix=prefix, database="main")
            async with consumer:
                assert consumer._client is not None
                # Before its first fetch (the fetching task has not run yet): the
                # whole stream comes in one batch, whose gap is checked after the
                # events before it were taken.
                goes_away = _ServerGoesAway(consumer._client, server)
                consumer._js = goes_away
                with anyio.fail_after(30):
                    await wait_until(lambda: consumer.statistics().acked >= last)
    finally:
        server.stop()
    assert goes_away.failures, "the gap check never failed"
    assert consumer.statistics().restarts >= 2  # made again after the failure
    path = tmp_path / "b" / MAIN
    assert stored_tick_numbers(path) == list(range(1, 201))
    assert stored_executions(path) == list(range(10, 201, 10))
