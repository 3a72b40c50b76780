"""Shared helpers of the blocking API's tests: the databases' names, their rows read
with plain sqlite3, and a script run in a process of its own."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

MAIN = "unified_tick_pipeline.db"
ANALYSIS = "analysis_data.db"
LOGS = "system_logs.db"


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows of ``sql`` in the database at ``path``."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def event_ids(path: Path, table: str) -> list[str]:
    """The event_ids stored in ``table``."""
    return [str(event_id) for (event_id,) in rows(path, f"SELECT event_id FROM {table}")]


def run_script(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (dedented) in a Python process of its own in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
