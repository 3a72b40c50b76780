"""A writer process for the PostgreSQL kill test: it delivers ticks 1..TOTAL of a
source into PostgreSQL as a relay does (each with the source's cursor), resuming
after the cursor the database committed; prints ``acked N`` after each flush.

Usage: python pg_relay_process.py DSN TOTAL
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import schemas
from eventbus import EventBus, Headers
from tests.writers._helpers import tick
from writers import MAIN, PostgresWriter

SOURCE = "outbox.db#1"


async def main(dsn: str, total: int) -> None:
    async with (
        EventBus(admit=schemas.admit) as bus,
        PostgresWriter(bus, MAIN, dsn, max_batch=100) as writer,
    ):
        start = await writer.cursor_of(SOURCE)
        print(f"resume {start}", flush=True)
        for n in range(start + 1, total + 1):
            await bus.publish(tick(n), headers=Headers(origin=SOURCE, cursor=n))
            if n % 50 == 0 or n == total:
                await bus.flush()
                print(f"acked {n}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
