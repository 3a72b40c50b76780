"""A writer pruning its database in another process, for the tests that kill it.

Usage::

    python prune_worker.py DATABASE
        start a MAIN writer for DATABASE with a Pruner keeping ticks 30 days (small
        steps, slowly), print "ready", prune until stdin closes or it is killed
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import anyio.to_thread

import schemas
from eventbus import EventBus
from writers import MAIN, Pruner, Retention, WriterActor

#: Small steps with long rests: a pass of a few thousand rows lasts seconds.
POLICY = Retention(ticks=30, chunk=50, share=0.02)


async def prune(database: Path) -> None:
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(bus, MAIN, database, role="chatgpt_bot") as writer,
        Pruner(writer, POLICY),
    ):
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.buffer.read)


if __name__ == "__main__":
    anyio.run(prune, Path(sys.argv[1]))
