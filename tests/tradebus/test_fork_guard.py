"""A child forked while a node ran is refused a node of its own, clearly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = """
import os, threading
import anyio
from tradebus import TradebusError, open_node

D = {data!r}

def in_a_fresh_thread(main):
    # The child runs its own event loop in a new thread (the fork's copy of the
    # parent's running loop is not usable).
    out = []
    def run():
        try:
            anyio.run(main)
            out.append("ran")
        except TradebusError as exc:
            out.append("refused: " + str(exc))
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out[0]

async def child_node():
    async with open_node(D, roles=["api_server"]) as node:
        await node.integration("api_server").log_trade_alert(
            alert_type="system", severity="info", message="child")

async def parent():
    async with open_node(D, roles=["chatgpt_bot"]) as node:
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=1, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=0.1)
        pid = os.fork()
        if pid == 0:
            print("during:", in_a_fresh_thread(child_node), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    pid = os.fork()  # no node runs now: a child may start one
    if pid == 0:
        print("after:", in_a_fresh_thread(child_node), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)

anyio.run(parent)
"""


def test_a_child_forked_while_a_node_ran_is_refused_and_one_forked_after_is_not(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT.format(data=str(tmp_path)))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    during, after = result.stdout.splitlines()
    assert during.startswith("during: refused: this process is a fork of process")
    assert "'spawn'" in during
    assert after == "after: ran"
    with sqlite3.connect(tmp_path / "system_logs.db") as conn:
        rows = conn.execute("SELECT message FROM trade_alerts ORDER BY id").fetchall()
    conn.close()
    assert rows == [("child",)]
