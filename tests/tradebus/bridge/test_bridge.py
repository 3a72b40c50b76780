"""The bridge end to end on a real nats-server: node A -> JetStream -> node B."""

from __future__ import annotations

from pathlib import Path

import anyio
import nats
import pytest

from tests.tradebus.bridge._helpers import (
    MAIN,
    execution,
    stored_executions,
    stored_tick_numbers,
    tick,
    unique_prefix,
)
from tests.writers._helpers import wait_until
from tradebus import open_node
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder, stream_name

pytestmark = pytest.mark.timeout(60)


async def test_ticks_and_executions_flow_from_one_node_to_another_once(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    b_file = tmp_path / "b" / MAIN
    async with (
        open_node(tmp_path / "a", roles=["chatgpt_bot"]) as a,
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=["market.tick.>", "trade.>"]) as fwd,
    ):
        for n in range(1, 501):
            await a.bus.publish(tick(n))
        for n in range(1, 21):
            await a.bus.publish(execution(n))
        await a.bus.flush()  # JetStream has them all
        stats = fwd.statistics()
    assert stats.in_flight == 0
    async with (
        open_node(tmp_path / "b", roles=["chatgpt_bot"]) as b,
        JetStreamConsumer(b, nats_url, prefix=prefix, database="main") as consumer,
    ):
        with anyio.fail_after(30):
            await wait_until(
                lambda: (
                    len(stored_tick_numbers(b_file)) >= 500 and len(stored_executions(b_file)) >= 20
                )
            )
        assert consumer.statistics().consumed == 520
    assert stored_tick_numbers(b_file) == list(range(1, 501))
    assert stored_executions(b_file) == list(range(1, 21))


async def test_leaving_the_forwarder_first_forwards_what_was_published(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    async with open_node(tmp_path / "a", roles=["chatgpt_bot"], candles=None, monitor=None) as a:
        async with JetStreamForwarder(
            a, nats_url, prefix=prefix, topics=["market.tick.>"], max_in_flight=50
        ) as forwarder:
            for n in range(1, 501):
                await a.bus.publish(tick(n))  # not waiting for JetStream
        assert forwarder.statistics().acked == 500
        await a.bus.flush()  # nothing was abandoned
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info(stream_name("main", prefix))
    finally:
        await client.close()
    # Every tick is in the stream: ticks waiting together travel as one message.
    assert info.state.messages == forwarder.statistics().published
    assert 1 <= info.state.messages <= 500


async def test_an_event_published_twice_is_one_message_and_one_row(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    once = execution(7)
    async with (
        open_node(tmp_path / "a", roles=["api_server"]) as a,  # no writer of its own here
        JetStreamForwarder(a, nats_url, prefix=prefix, topics=["trade.execution.>"]) as fwd,
    ):
        await a.bus.publish(once, wait=True)
        await a.bus.publish(once, wait=True)  # the same event_id: a retry of the caller's
        assert fwd.statistics().duplicates == 1  # JetStream recognised the Msg-Id
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info(stream_name("main", prefix))
    finally:
        await client.close()
    assert info.state.messages == 1
    async with (
        open_node(tmp_path / "b", roles=["chatgpt_bot"]) as b,
        JetStreamConsumer(b, nats_url, prefix=prefix, database="main") as consumer,
    ):
        with anyio.fail_after(30):
            await wait_until(lambda: consumer.statistics().acked >= 1)
    assert stored_executions(tmp_path / "b" / MAIN) == [7]
