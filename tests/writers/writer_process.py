"""A writer in another process, for the tests that need two processes.

Usage::

    python writer_process.py hold DATABASE ROLE
        start a MAIN writer for DATABASE as ROLE, print "ready", hold it until stdin closes
    python writer_process.py ingest DATABASE LOG
        start a MAIN writer, print "ready", then publish trade executions from several
        tasks; append each event_id to LOG once its publish is acknowledged (committed)

The parent kills it with SIGKILL; a closed stdin (hold) or a time limit (ingest)
ends it if the parent dies first.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import anyio
import anyio.to_thread

import schemas
from eventbus import EventBus
from schemas import Tick, TradeExecution
from writers import MAIN, WriterActor

_PUBLISHERS = 8
_TIME_LIMIT = 60.0


async def hold(database: Path, role: str) -> None:
    async with EventBus(admit=schemas.admit) as bus, WriterActor(bus, MAIN, database, role=role):
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.buffer.read)


async def ingest(database: Path, log: Path) -> None:
    # write() hands each line to the kernel, which keeps it through a SIGKILL of this
    # process: what the log holds was acknowledged, no fsync needed for that.
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    tickets = itertools.count(1)

    async def publish_executions(bus: EventBus) -> None:
        while True:
            event = TradeExecution(
                ticket=next(tickets),
                symbol="BTCUSDT",
                direction="BUY",
                entry_price=50_000.0,
                volume=0.01,
            )
            await bus.publish(event, wait=True)
            os.write(fd, f"{event.event_id}\n".encode())

    async def publish_ticks(bus: EventBus) -> None:
        # Keep the writer busy with large batches, so the kill lands mid-ingest.
        for n in itertools.count():
            await bus.publish(Tick(symbol="ETHUSDT", bid=3_000.0 + n % 100, ask=3_001.0))

    with anyio.move_on_after(_TIME_LIMIT):
        async with (
            EventBus(admit=schemas.admit) as bus,
            # A small buffer: acknowledged executions wait behind at most 2000 ticks.
            WriterActor(bus, MAIN, database, role="ingest", max_delay=0.005, max_buffer=2_000),
            anyio.create_task_group() as tg,
        ):
            print("ready", flush=True)
            tg.start_soon(publish_ticks, bus)
            for _ in range(_PUBLISHERS):
                tg.start_soon(publish_executions, bus)


def main() -> None:
    mode, database, extra = sys.argv[1:4]
    if mode == "hold":
        anyio.run(hold, Path(database), extra)
    elif mode == "ingest":
        anyio.run(ingest, Path(database), Path(extra))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
