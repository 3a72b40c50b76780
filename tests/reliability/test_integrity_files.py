"""Database files that are not sound, or not writable, at start: refused loudly, untouched.

A damaged, emptied or truncated file is refused by a starting writer (and by
``tradebus init``) with a WriterError saying what is wrong and what to do, and
``tradebus check`` reports it; a new database is never left as an empty file by a
crash of our own; a file the writer cannot write is refused at start rather than
retried for ever.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from schemas import Tick
from tests.writers._helpers import writer_process
from tradebus import open_node
from writers import MAIN, WriterError, check_database

from ._helpers import count, integrity

_MAIN = MAIN.filename
_PAGE = 4096


def _tradebus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


async def _filled(data: Path, ticks: int = 20_000) -> Path:
    """A data directory whose main database holds ``ticks`` ticks (writers stopped)."""
    async with open_node(data, roles=["chatgpt_bot"]) as node:
        for i in range(ticks):
            await node.bus.publish(Tick(symbol="BTCUSDT", bid=100.0 + i % 50, ask=101.0))
    return data / _MAIN


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _damage_page(path: Path, page: int) -> None:
    """Overwrite page ``page`` (0-based) with garbage, as a disk or a stray write would."""
    with path.open("r+b") as file:
        file.seek(page * _PAGE)
        file.write(b"\xde\xad\xbe\xef" * (_PAGE // 4))


async def _start(data: Path) -> None:
    with anyio.fail_after(30):
        async with open_node(data, roles=["chatgpt_bot"]):
            pytest.fail("the writer started")


async def test_a_damaged_page_mid_file_is_refused_at_start_and_reported_by_check(
    tmp_path: Path,
) -> None:
    path = await _filled(tmp_path)
    pages = path.stat().st_size // _PAGE
    _damage_page(path, pages // 2)
    damaged = _digest(path)
    with pytest.raises(WriterError, match="damaged") as refused:
        await _start(tmp_path)
    assert str(path) in str(refused.value)
    assert "tradebus check" in str(refused.value)
    assert _digest(path) == damaged  # nothing was written into it
    assert check_database(path) != []
    report = _tradebus("check", "--data-dir", str(tmp_path))
    assert report.returncode == 1
    assert str(path) in report.stderr
    assert "failed the check" in report.stderr


async def test_an_emptied_database_is_refused_never_recreated(tmp_path: Path) -> None:
    path = await _filled(tmp_path, ticks=100)
    path.write_bytes(b"")
    with pytest.raises(WriterError, match=r"empty file \(0 bytes\)") as refused:
        await _start(tmp_path)
    assert "delete the empty file" in str(refused.value)
    assert path.stat().st_size == 0
    init = _tradebus("init", "--data-dir", str(tmp_path))
    assert init.returncode == 1
    assert "empty file" in init.stderr
    assert path.stat().st_size == 0
    report = _tradebus("check", "--data-dir", str(tmp_path))
    assert report.returncode == 1
    assert "empty file" in report.stderr
    # What the message says to do works: delete it, and a new database is made.
    path.unlink()
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        pass
    assert count(path, "unified_ticks") == 0


@pytest.mark.parametrize(("keep", "problem"), [(0.5, "truncated"), (0.4, "whole number")])
async def test_a_truncated_database_is_refused(tmp_path: Path, keep: float, problem: str) -> None:
    path = await _filled(tmp_path)
    size = path.stat().st_size
    cut = int(size * keep) // _PAGE * _PAGE if problem == "truncated" else int(size * keep) + 7
    with path.open("r+b") as file:
        file.truncate(cut)
    with pytest.raises(WriterError, match=problem):
        await _start(tmp_path)
    assert path.stat().st_size == cut


_CRASH_WHILE_CREATING = """
import os, signal, sys
import anyio
from writers import MAIN, create_database

def crash(event, args):
    if event == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

sys.addaudithook(crash)
anyio.run(create_database, MAIN, sys.argv[1])
"""


@pytest.mark.parametrize("moment", ["sqlite3.connect/handle", "os.link"])
async def test_a_crash_while_creating_a_database_never_leaves_an_empty_file(
    tmp_path: Path, moment: str
) -> None:
    path = tmp_path / _MAIN
    with anyio.fail_after(60):
        crashed = await anyio.run_process(
            [sys.executable, "-c", _CRASH_WHILE_CREATING, str(path), moment],
            check=False,
            stdout=None,
            stderr=None,
        )
    assert crashed.returncode == -signal.SIGKILL
    assert not path.exists() or path.read_bytes()[:16] == b"SQLite format 3\x00"
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as node:
        await node.bus.publish(Tick(symbol="BTCUSDT", bid=1.0, ask=2.0), wait=True)
    assert count(path, "unified_ticks") == 1
    assert integrity(path) == "ok"


async def test_a_sound_data_directory_passes_check_while_its_writers_run(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        for i in range(5_000):
            await node.bus.publish(Tick(symbol="BTCUSDT", bid=100.0 + i % 50, ask=101.0))
        await node.bus.flush()
        report = await anyio.to_thread.run_sync(_tradebus, "check", "--data-dir", str(tmp_path))
        await node.bus.publish(Tick(symbol="BTCUSDT", bid=1.0, ask=2.0), wait=True)
    assert report.returncode == 0, report.stderr
    assert report.stdout.count("ok") == 3
    assert count(tmp_path / _MAIN, "unified_ticks") == 5_001


# --------------------------------------------------------------- files it cannot write


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Nobody, not even root, may write ``path`` (chattr +i); skip where that is impossible."""
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", path], check=False).returncode:
        pytest.skip("needs chattr +i (root on a filesystem that supports it)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", path], check=True)


async def test_a_database_file_the_writer_cannot_write_is_refused_at_start(
    tmp_path: Path,
) -> None:
    path = await _filled(tmp_path, ticks=100)
    with immutable(path), pytest.raises(WriterError, match=r"cannot (open|write)") as refused:
        await _start(tmp_path)
    assert str(path) in str(refused.value)
    assert "chattr +i" in str(refused.value)
    assert count(path, "unified_ticks") == 100


async def test_a_wal_file_the_writer_cannot_write_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / _MAIN
    async with writer_process("hold", path, "chatgpt_bot") as holder:
        holder.kill()  # leaves the -wal and -shm files behind
        await holder.wait()
    wal = Path(f"{path}-wal")
    assert await anyio.Path(wal).exists()
    with immutable(wal), pytest.raises(WriterError, match=f"cannot write {path}") as refused:
        await _start(tmp_path)
    assert "readonly" in str(refused.value)


@pytest.mark.parametrize(
    ("suffix", "refusal"),
    [("-wal", "hard links"), ("-shm", "hard links"), ("", "already has a writer")],
)
async def test_a_file_hard_linked_to_another_databases_file_is_refused_at_start(
    tmp_path: Path, suffix: str, refusal: str
) -> None:
    # Another database's live write-ahead log (or index, or the database itself) given
    # a second name in this directory: two writers would mix their databases in it.
    first, second = tmp_path / "a", tmp_path / "b"
    second.mkdir()
    async with open_node(first, roles=["chatgpt_bot"]) as node:
        await node.bus.publish(Tick(symbol="BTCUSDT", bid=100.0, ask=101.0), wait=True)
        (second / f"{_MAIN}{suffix}").hardlink_to(first / f"{_MAIN}{suffix}")
        with pytest.raises(WriterError, match=refusal):
            async with open_node(second, roles=["chatgpt_bot"]):
                pass
        await node.bus.publish(Tick(symbol="BTCUSDT", bid=100.0, ask=101.0), wait=True)
    assert count(first / _MAIN, "unified_ticks") == 2
    if not suffix:  # with nobody holding it, the second name is refused as such
        with pytest.raises(WriterError, match="hard links"):
            async with open_node(second, roles=["chatgpt_bot"]):
                pass


async def test_checking_a_database_again_and_again_keeps_no_more_descriptors(
    tmp_path: Path,
) -> None:
    # A process that checks now and then (check_database is public) must not run out
    # of file descriptors: the one it keeps of a database file is reused.
    path = await _filled(tmp_path / "data", ticks=10)
    assert check_database(path) == []
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        assert check_database(path) == []
    assert len(os.listdir("/proc/self/fd")) <= before
