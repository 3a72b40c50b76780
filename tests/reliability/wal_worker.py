"""A writer whose -wal file is deleted while events flow, killed once it notices.

Usage::

    python wal_worker.py DATABASE LOG

Publishes trade executions with ``wait=True`` from several tasks and appends each
acknowledged ticket to LOG; after 50 acknowledgements it deletes ``DATABASE-wal``
from a thread while the events keep flowing. When the writer logs that it found the
file gone, this process SIGKILLs itself: what a crash at that moment leaves behind,
before the writer closes its connection (which would checkpoint the WAL too).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import sys
from pathlib import Path

import anyio
import anyio.to_thread

import schemas
from eventbus import EventBus, EventBusError
from schemas import TradeExecution
from writers import MAIN, WriterActor

_PUBLISHERS = 4
_TIME_LIMIT = 60.0


class _CrashWhenNoticed(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if "vanished" in record.getMessage():
            os.kill(os.getpid(), signal.SIGKILL)


async def main(database: Path, log: Path) -> None:
    logging.getLogger("writers").addHandler(_CrashWhenNoticed(logging.ERROR))
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    tickets = itertools.count(1)
    acknowledged = 0
    enough = anyio.Event()

    async def publish_executions(bus: EventBus) -> None:
        nonlocal acknowledged
        while True:
            ticket = next(tickets)
            event = TradeExecution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
            )
            try:
                await bus.publish(event, wait=True)
            except EventBusError:
                return
            os.write(fd, f"{ticket}\n".encode())
            acknowledged += 1
            if acknowledged >= 50:
                enough.set()

    async def delete_wal() -> None:
        await enough.wait()
        await anyio.to_thread.run_sync(os.unlink, f"{database}-wal")

    with anyio.move_on_after(_TIME_LIMIT):
        async with (
            EventBus(admit=schemas.admit) as bus,
            WriterActor(bus, MAIN, database, max_delay=0.001),
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(delete_wal)
            for _ in range(_PUBLISHERS):
                tg.start_soon(publish_executions, bus)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), Path(sys.argv[2]))
