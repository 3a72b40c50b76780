"""A writer whose -wal file is deleted while events flow, killed once it notices.

Usage::

    python wal_worker.py DATABASE LOG [idle]

Publishes trade executions with ``wait=True`` from several tasks and appends each
acknowledged ticket to LOG; after 50 acknowledgements it deletes ``DATABASE-wal``
from a thread while the events keep flowing (with ``idle``: once they stopped, so
that only the writer's watch of an idle database can notice). When the writer logs that it found the
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


async def main(database: Path, log: Path, idle: bool) -> None:
    logging.getLogger("writers").addHandler(_CrashWhenNoticed(logging.ERROR))
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    tickets = itertools.count(1)
    acknowledged = 0
    stopped = 0
    enough = anyio.Event()
    all_stopped = anyio.Event()

    async def publish_executions(bus: EventBus) -> None:
        nonlocal acknowledged, stopped
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
                if idle:
                    stopped += 1
                    if stopped == _PUBLISHERS:
                        all_stopped.set()
                    return

    async def delete_wal() -> None:
        await enough.wait()
        if idle:
            await all_stopped.wait()  # every publish acknowledged: nothing in flight
        await anyio.to_thread.run_sync(os.unlink, f"{database}-wal")
        if idle:
            await anyio.sleep(_TIME_LIMIT)  # stay up, idle: the writer must notice alone

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
    anyio.run(main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] == ["idle"])
