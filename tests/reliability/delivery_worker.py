"""A role process of the three-process system that logs every acknowledgement, for
the delivery kill loop.

Usage::

    python delivery_worker.py DATA_DIR ROLE ACK_LOG RUN
    python delivery_worker.py DATA_DIR ROLE --drain SECONDS

ROLE is a role of the default topology, or ``none`` (a process hosting no role: it
writes an outbox file of its own). In the first form the process publishes, until
killed, ticks of symbol ``<ROLE-TAG>`` with timestamps ``RUN * 10**9 + n`` for the
bot's database and alerts (message ``<role>:<run>:<n>``) for the logs database,
whichever of them its roles do not own going through its outbox; it appends one line
per acknowledgement to ACK_LOG (fsynced):

``T <symbol> <ts>``
    the tick is durable (committed in its database, or in this process's outbox)
``A <message>``
    the alert is durable

With ``--drain``, it publishes nothing: it waits until everything its outbox holds is
committed by the owners (``delivered()``) and trimmed, for at most SECONDS, relaying
into its own database meanwhile; exit status 0 when done.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sqlite3
import sys
from pathlib import Path

import anyio

from schemas import Tick
from tradebus import open_node

TAGS = {"chatgpt_bot": "BOT", "desktop_agent": "AGT", "api_server": "API", "none": "CLI"}
BATCH = 40


async def publish(data: Path, role: str, ack_log: Path, run: int) -> None:
    fd = os.open(ack_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def ack(lines: list[str]) -> None:
        os.write(fd, "".join(f"{line}\n" for line in lines).encode())
        os.fsync(fd)

    roles = () if role == "none" else (role,)
    symbol = TAGS[role]
    async with open_node(data, roles=roles, max_delay=0.01) as node:
        calls = node.integration("api_server" if role == "none" else role)
        n = 0
        while True:
            ticks = []
            for _ in range(BATCH):
                n += 1
                tick = Tick(symbol=symbol, bid=100.0, ask=100.5, ts=run * 10**9 + n)
                await node.bus.publish(tick)
                ticks.append(f"T {symbol} {tick.ts}")
            await node.bus.flush()
            ack(ticks)
            message = f"{role}:{run}:{n}"
            await calls.log_trade_alert(alert_type="system", severity="info", message=message)
            ack([f"A {message}"])


async def drain(data: Path, role: str, seconds: float) -> int:
    roles = () if role == "none" else (role,)
    async with open_node(data, roles=roles) as node:
        with anyio.move_on_after(seconds) as scope:
            await node.delivered()
            outbox = node.statistics().writers
            own = [Path(w.path) for w in outbox.values()]
            while any(_held(path) for path in own):  # noqa: ASYNC110 - another process's commit
                await anyio.sleep(0.1)
            # Stay a while: the others' relays may still read this process's file,
            # and its relays deliver what the others drain.
            await anyio.sleep(1.0)
        return 1 if scope.cancelled_caught else 0


def _held(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def main() -> int:
    faulthandler.register(signal.SIGUSR1)
    data, role = Path(sys.argv[1]), sys.argv[2]
    if sys.argv[3] == "--drain":
        return anyio.run(drain, data, role, float(sys.argv[4]))
    anyio.run(publish, data, role, Path(sys.argv[3]), int(sys.argv[4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
