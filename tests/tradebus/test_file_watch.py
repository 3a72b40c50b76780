"""Noticing another process's commits: inotify where there is one, polling elsewhere."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tradebus import _file_watch
from tradebus._file_watch import FileChanges


def _commit_elsewhere(path: Path) -> None:
    """A commit in WAL mode by another process."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('PRAGMA journal_mode=WAL'); "
        "c.execute('CREATE TABLE IF NOT EXISTS t (x)'); c.execute('INSERT INTO t VALUES (1)'); "
        "c.commit()"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "polling"])
async def test_a_commit_by_another_process_wakes_the_waiter_long_before_its_limit(
    tmp_path: Path, inotify: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not inotify:
        monkeypatch.setattr(_file_watch._Inotify, "open", classmethod(lambda cls: None))
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    async with FileChanges() as changes:
        if sys.platform == "linux":
            assert (changes._inotify is not None) == inotify
        version = changes.version(path)
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, _commit_elsewhere, path)
            with anyio.fail_after(30):  # the limit below is an hour: only a change wakes it
                await changes.wait(path, version, at_most=3600)
        assert changes.version(path) > version


async def test_a_file_made_after_the_watch_began_is_noticed(tmp_path: Path) -> None:
    directory = tmp_path / "later"
    path = directory / "client-1.db"
    async with FileChanges() as changes:
        version = changes.version(path)  # neither the file nor its directory exist yet
        directory.mkdir()
        version = changes.version(path)  # looked at again: its directory is watched now
        await anyio.to_thread.run_sync(_commit_elsewhere, path)
        with anyio.fail_after(30):
            await changes.wait(path, version, at_most=3600)
