"""Shared helpers of the tick import tests: what the bot's database holds after an
import (its ticks, its ledger), numbered files, and an import killed in another process
once it has committed some of its work."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The database the imported ticks and the ledger (tick_imports) go to.
MAIN = "unified_tick_pipeline.db"


def stored_ticks(data: Path) -> list[tuple[Any, ...]]:
    """The ticks stored in ``data``, in time order."""
    with sqlite3.connect(data / MAIN) as conn:
        return conn.execute(
            "SELECT symbol, ts, bid, ask, last, volume, source FROM unified_ticks ORDER BY ts, seq"
        ).fetchall()


def ledger(data: Path) -> list[tuple[int, int, int, str]]:
    """The import ledger's rows: position, ticks, skipped, status."""
    with sqlite3.connect(data / MAIN) as conn:
        return conn.execute("SELECT position, ticks, skipped, status FROM tick_imports").fetchall()


def committed_some(data: Path) -> bool:
    """Whether the import has committed a chunk (a ledger row after some ticks: the
    first row, written before any tick, says 0)."""
    try:
        conn = sqlite3.connect(f"file:{data / MAIN}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        rows = conn.execute("SELECT count(*) FROM tick_imports WHERE ticks > 0").fetchone()
        return bool(rows[0])
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def numbered_file(tmp_path: Path, lines: int) -> Path:
    """A HistData file whose row i has the volume i (to check each is stored once)."""
    path = tmp_path / "h.csv"
    with path.open("w") as f:
        for i in range(lines):
            seconds, millis = divmod(i, 1000)
            minutes, seconds = divmod(seconds, 60)
            f.write(f"20240102 17{minutes:02d}{seconds:02d}{millis:03d},1.1,1.2,{i}\n")
    return path


def kill_once_committing(
    data: Path, path: Path, committed: Callable[[Path], bool] = committed_some
) -> None:
    """Run an import in a process and SIGKILL it once it has committed a chunk."""
    child = subprocess.Popen([sys.executable, "-c", _IMPORTER, str(data), str(path)])
    try:
        deadline = time.monotonic() + 120
        while not committed(data):
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import never got going"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)


_IMPORTER = textwrap.dedent(
    """
    import sys
    import anyio
    from tradebus._import import import_ticks

    anyio.run(lambda: import_ticks(sys.argv[1], sys.argv[2], "EURUSD", chunk=500))
    """
)
