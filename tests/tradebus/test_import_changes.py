"""tradebus import ticks: a file that changes while it is imported is never marked
imported under a hash that does not describe the ticks stored."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tradebus._import import import_ticks
from tradebus._import_formats import TickImportError

MAIN = "unified_tick_pipeline.db"
#: More than one block of reading (a megabyte), so the import reads after a change.
ROWS = 120_000


def _write(path: Path, start: int, count: int, mode: str = "w") -> None:
    with path.open(mode) as f:
        if mode == "w":
            f.write("ts,bid,ask\n")
        f.writelines(f"{1704189600 + i},1.1,1.2\n" for i in range(start, start + count))


def _complete(data: Path) -> list[str]:
    with sqlite3.connect(data / MAIN) as conn:
        rows = conn.execute("SELECT file_hash FROM tick_imports WHERE status = 'complete'")
        return [row[0] for row in rows]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_file_appended_to_while_it_is_imported_is_not_marked_imported(
    tmp_path: Path,
) -> None:
    path, data = tmp_path / "grow.csv", tmp_path / "data"
    _write(path, 0, ROWS)
    calls: list[int] = []

    def grow(done: int, total: int) -> None:
        if not calls:
            _write(path, ROWS, 1000, mode="a")  # the rest of a download arrives
        calls.append(done)

    with pytest.raises(TickImportError, match="changed while it was imported"):
        await import_ticks(data, path, "EURUSD", chunk=1000, progress=grow)
    assert _complete(data) == []
    finished = await import_ticks(data, path, "EURUSD")
    assert finished.status == "imported"
    assert _complete(data) == [_sha(path)]


async def test_a_file_rewritten_in_place_while_it_is_imported_is_not_marked_imported(
    tmp_path: Path,
) -> None:
    path, data = tmp_path / "chg.csv", tmp_path / "data"
    _write(path, 0, ROWS)
    original = _sha(path)
    calls: list[int] = []

    def rewrite(done: int, total: int) -> None:
        if not calls:  # other prices, same length, and the old modification time back
            before = path.stat()
            with path.open("r+b") as f:
                text = f.read()
                f.seek(0)
                f.write(text.replace(b",1.1,", b",1.9,"))
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        calls.append(done)

    with pytest.raises(TickImportError, match="changed while it was imported"):
        await import_ticks(data, path, "EURUSD", chunk=1000, progress=rewrite)
    assert _complete(data) == []
    assert original != _sha(path)


class _Stop(Exception):
    pass


async def test_a_resumed_import_of_a_file_that_changes_is_not_marked_imported(
    tmp_path: Path,
) -> None:
    path, data = tmp_path / "resume.csv", tmp_path / "data"
    _write(path, 0, ROWS)

    def stop(done: int, total: int) -> None:
        raise _Stop  # killed after its first chunk: the ledger row says partial

    with pytest.raises(_Stop):
        await import_ticks(data, path, "EURUSD", chunk=1000, progress=stop)
    calls: list[int] = []

    def grow(done: int, total: int) -> None:
        if not calls:
            _write(path, ROWS, 1000, mode="a")
        calls.append(done)

    with pytest.raises(TickImportError, match="changed while it was imported"):
        await import_ticks(data, path, "EURUSD", chunk=1000, progress=grow)
    assert _complete(data) == []
