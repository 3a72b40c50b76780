"""The consuming side of the bridge scenario, in a process of its own:
``python -m bench._bridge_consume PARAMS_JSON``.

It opens a node hosting the bot's database in ``data`` and a consumer of the
stream of ``prefix``, says ``"ready"``, then once ``target`` events are committed
says ``{"consumed": n}`` and exits.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

from tradebus import open_node
from tradebus.bridge import JetStreamConsumer

_POLL = 0.002


async def _main(params: dict[str, Any]) -> None:
    async with (
        open_node(
            params["data"], roles=["chatgpt_bot"], candles=None, monitor=None, status_file=False
        ) as node,
        JetStreamConsumer(node, params["url"], prefix=params["prefix"], database="main") as c,
    ):
        print(json.dumps("ready"), flush=True)
        while True:  # the consumer's counters offer nothing to wait on
            if c.statistics().consumed >= params["target"]:
                break
            await anyio.sleep(_POLL)
        await node.bus.flush()  # committed
        print(json.dumps({"consumed": c.statistics().consumed}), flush=True)


def main() -> None:
    anyio.run(_main, json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
