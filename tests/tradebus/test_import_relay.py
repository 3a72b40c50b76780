"""tradebus import ticks with the bot running: the import is its client, the ticks go
through the bot's relay (returned once stored), and a kill midway loses none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio

from tradebus import open_node
from tradebus._import import import_ticks

from ._import_helpers import kill_once_committing as _kill_once_committing
from ._import_helpers import ledger as _ledger
from ._import_helpers import numbered_file as _numbered_file
from ._import_helpers import stored_ticks as _ticks


async def test_with_the_bot_running_the_ticks_go_through_its_relay(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("".join(f"20240102 1700{i:02d}000,1.1,1.2,0\n" for i in range(30)))
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):
        result = await import_ticks(data, path, "EURUSD", chunk=7)
        assert (result.via, result.ticks) == ("client", 30)
        # Returned once stored: the bot's database holds them and the ledger says so.
        assert len(_ticks(data)) == 30
        assert _ledger(data) == [(30, 30, 0, "complete")]
        assert (await import_ticks(data, path, "EURUSD")).status == "already imported"


def _sent_some(data: Path) -> bool:
    """Whether an import through the outbox has committed rows of ticks to it (its first
    ledger row and some ticks; the bot's relay may not have stored them yet)."""
    for outbox in (data / "outboxes").glob("client-*.db"):
        try:
            conn = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            if conn.execute("SELECT count(*) FROM outbox").fetchone()[0] >= 2:
                return True
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    return False


async def test_an_import_through_the_bots_relay_killed_midway_stores_every_tick_once(
    tmp_path: Path,
) -> None:
    lines = 100_000
    path = _numbered_file(tmp_path, lines)
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):  # the bot runs: imports are clients
        # Killed once its outbox holds some ticks (a row holds up to 1,000 of them): the
        # bot's relay stores what it committed; the run again goes on from there.
        await anyio.to_thread.run_sync(_kill_once_committing, data, path, _sent_some)
        result = await import_ticks(data, path, "EURUSD")
        assert (result.via, result.status, result.total_ticks) == ("client", "resumed", lines)
        assert sorted(int(row[5]) for row in _ticks(data)) == list(range(lines))  # each once
        assert _ledger(data)[0][1:] == (lines, 0, "complete")
