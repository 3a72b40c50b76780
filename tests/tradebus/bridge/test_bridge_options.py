"""The bridge's options: a wrong one is refused before anything connects, naming the
field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tradebus import AccessDenied, TradebusError, open_node
from tradebus.bridge import BridgeError, BridgeOptionError, JetStreamConsumer, JetStreamForwarder

URL = "nats://127.0.0.1:1"  # never reached: the options are checked first


@pytest.mark.parametrize(
    ("options", "field", "allowed"),
    [
        ({"lanes": 0}, "lanes", "an int from 1 to 1024"),
        ({"lanes": 2.5}, "lanes", "an int from 1 to 1024"),
        ({"max_in_flight": True}, "max_in_flight", "an int"),
        ({"duplicate_window": 0.01}, "duplicate_window", "a number from 0.1"),
        ({"publish_timeout": "1"}, "publish_timeout", "a number"),
        ({"topics": []}, "topics", "at least one topic pattern"),
        ({"topics": ["market..tick"]}, "topics", "a topic pattern"),
        ({"topics": ["nothing.here"]}, "topics", "patterns matching some database's topics"),
        ({"prefix": "a.*"}, "prefix", "a subject without wildcards"),
        ({"name": "has space"}, "name", "1 to 32 letters"),
    ],
)
async def test_a_wrong_forwarder_option_is_refused_naming_it(
    tmp_path: Path, options: dict[str, Any], field: str, allowed: str
) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None) as node:
        with pytest.raises(BridgeOptionError) as caught:
            JetStreamForwarder(node, URL, **options)
    assert caught.value.field == field
    message = str(caught.value)
    assert f"{field}=" in message
    assert allowed in message
    assert isinstance(caught.value, TradebusError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("options", "field", "allowed"),
    [
        ({"batch": 0}, "batch", "an int from 1 to 10000"),
        ({"durable": "a.b"}, "durable", "letters, digits"),
        ({"stream": ""}, "stream", "letters, digits"),
        ({"database": "nope"}, "database", "one of"),
        ({"ack_wait": 0.5}, "ack_wait", "a number from 1"),
        ({"batches_in_flight": 0}, "batches_in_flight", "an int from 1 to 64"),
    ],
)
async def test_a_wrong_consumer_option_is_refused_naming_it(
    tmp_path: Path, options: dict[str, Any], field: str, allowed: str
) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None) as node:
        with pytest.raises(BridgeOptionError) as caught:
            JetStreamConsumer(node, URL, **{"database": "main", **options})
    assert caught.value.field == field
    assert allowed in str(caught.value)


async def test_a_consumer_batch_must_fit_its_writers_buffer(tmp_path: Path) -> None:
    async with open_node(
        tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None, max_buffer=100
    ) as node:
        with pytest.raises(BridgeOptionError, match=r"batch=500 .* at most half the writer's"):
            JetStreamConsumer(node, URL, database="main")


async def test_a_consumer_needs_the_node_to_host_its_database(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["api_server"], candles=None, monitor=None) as node:
        with pytest.raises(AccessDenied, match="may not write 'main'"):
            JetStreamConsumer(node, URL, database="main")


async def test_an_unreachable_server_is_reported_with_its_address(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None) as node:
        forwarder = JetStreamForwarder(node, URL, connect_timeout=0.3)
        with pytest.raises(BridgeError, match=r"cannot connect to NATS at nats://127\.0\.0\.1:1"):
            await forwarder.__aenter__()


@pytest.mark.parametrize("url", ["", "notaurl", "http://host:4222", "nats://", 4222])
async def test_an_address_that_is_not_a_nats_servers_is_refused(tmp_path: Path, url: Any) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"], candles=None, monitor=None) as node:
        with pytest.raises(BridgeOptionError, match="nats://host:4222") as forwarder:
            JetStreamForwarder(node, url)
        with pytest.raises(BridgeOptionError, match="nats://host:4222") as consumer:
            JetStreamConsumer(node, url, database="main")
    assert forwarder.value.field == consumer.value.field == "url"
