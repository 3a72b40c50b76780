"""A bot process that builds candles and is killed (SIGKILL) once its ticks are stored.

``python -m tests.tradebus.candles_worker DATA_DIR SEED TICKS UPDATE_INTERVAL`` (seconds,
or ``none``): the first half of the
ticks are charted and their closed bars stored; the second half are stored, and the
process kills itself without the service having taken them: they are published under the
service's own name, which its subscription (``echo=False``) does not receive, so that what
the crash leaves is the same in every run (a service that took them in time would store
their bars before the kill, and leave nothing to catch up).
"""

from __future__ import annotations

import os
import signal
import sys

import anyio

from eventbus import Headers
from tradebus import CandleService, open_node

from ._candle_oracle import random_ticks


async def main(data_dir: str, seed: int, n: int, update_interval: float | None) -> None:
    ticks = random_ticks(seed, n, symbols=("EURUSD", "XAUUSD"))
    half = n // 2
    async with (
        open_node(data_dir, candles=()) as node,  # the service below is the only one
        CandleService(node, update_interval=update_interval) as candles,
    ):
        for tick in ticks[:half]:
            await node.bus.publish(tick)
        await candles.caught_up()
        await node.bus.flush()  # the bars closed so far are stored
        unseen = Headers(origin="candles")  # stored, never charted
        for tick in ticks[half:]:
            await node.bus.publish(tick, headers=unseen)
        await node.bus.flush()  # every tick is stored
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    every = None if sys.argv[4] == "none" else float(sys.argv[4])
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), every)
