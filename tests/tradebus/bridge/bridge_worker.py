"""A bridge process for the kill tests: ``python -m tests.tradebus.bridge.bridge_worker
PARAMS_JSON``.

``{"mode": "forward", ...}`` publishes numbered ticks (and an execution every tenth)
on a node with a forwarder, from ``start`` on, in rounds: it appends ``trying N``
to ``log`` before a round and ``acked N`` once ``flush()`` returned (JetStream has
everything up to N). ``{"mode": "consume", ...}`` runs a consumer into its node.
Both run until killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from tests.tradebus.bridge._helpers import execution, tick
from tradebus import open_node
from tradebus.bridge import JetStreamConsumer, JetStreamForwarder

TOPICS = ["market.tick.>", "trade.execution.>"]
ROUND = 40


async def forward(params: dict[str, Any]) -> None:
    n = int(params["start"])
    async with (
        open_node(params["data"], roles=["chatgpt_bot"], candles=None, monitor=None) as node,
        JetStreamForwarder(
            node, params["url"], prefix=params["prefix"], topics=TOPICS, lanes=8,
            max_in_flight=200, publish_timeout=0.5, connect_timeout=60,
        ),
    ):  # fmt: skip
        with Path(params["log"]).open("a") as log:  # noqa: ASYNC230 - a line at a time
            while True:
                last = n + ROUND - 1
                log.write(f"trying {last}\n")
                log.flush()
                for k in range(n, last + 1):
                    await node.bus.publish(tick(k))
                    if k % 10 == 0:
                        await node.bus.publish(execution(k))
                await node.bus.flush()
                log.write(f"acked {last}\n")
                log.flush()
                n = last + 1


async def consume(params: dict[str, Any]) -> None:
    async with (
        open_node(params["data"], roles=["chatgpt_bot"], candles=None, monitor=None) as node,
        JetStreamConsumer(
            node, params["url"], prefix=params["prefix"], database="main", batch=100,
            ack_wait=2.0, connect_timeout=60,
        ),
    ):  # fmt: skip
        print("consuming", flush=True)
        await anyio.sleep_forever()


def main() -> None:
    params = json.loads(sys.argv[1])
    anyio.run(forward if params["mode"] == "forward" else consume, params)


if __name__ == "__main__":
    main()
