"""What earlier imports of a file committed: the ``tick_imports`` ledger, and the
ledger rows still on their way in an outbox file (of an import that ran while the bot
was up, or was killed before the bot delivered it)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anyio

from schemas import TickImport, symbol_token
from writers import MAIN

from ._delivery import CLIENT_DIR
from ._import_formats import TickImportError

__all__ = [
    "IMPORTS_DIR",
    "committed_ticks",
    "import_lock",
    "read_ledger",
    "wait_for_earlier_imports",
]

#: Where imports keep their locks (in the data directory).
IMPORTS_DIR = "imports"


@contextlib.contextmanager
def import_lock(data_dir: Path, file_hash: str, symbol: str) -> Iterator[None]:
    """Hold the lock of one (file content, symbol) import while it runs: a second
    process importing the same file for the same symbol at the same time is refused
    (the ledger orders the chunks of one import, not two imports' streams).

    :raises TickImportError: if another process holds it.
    """
    folder = data_dir / IMPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_hash[:16]}-{symbol_token(symbol)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TickImportError(
                f"another process is importing this file for {symbol} into {data_dir} now "
                f"(it holds {path}): wait for it to finish; it imports every tick once"
            ) from None
        yield
    finally:
        os.close(fd)


_COLUMNS = (
    "file_hash, symbol, filename, format, position, byte_offset, ticks, skipped, "
    "first_ts, last_ts, status, ts"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.execute("PRAGMA query_only = ON")
    return conn


def read_ledger(main_path: Path, file_hash: str, symbol: str) -> TickImport | None:
    """The committed ledger row of ``file_hash`` and ``symbol`` (None: never imported,
    or the database or its ``tick_imports`` table does not exist yet)."""
    if not main_path.exists():
        return None
    conn = _connect(main_path)
    try:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM tick_imports WHERE file_hash = ? AND symbol = ?",
            (file_hash, symbol),
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise TickImportError(f"cannot read the import ledger of {main_path}: {exc}") from exc
    finally:
        conn.close()
    if row is None:
        return None
    names = [n.strip() for n in _COLUMNS.split(",")]
    return TickImport(**dict(zip(names, row, strict=True)))


def committed_ticks(main_path: Path, symbol: str, tag: str) -> int:
    """How many ticks of ``symbol`` the import ``tag`` (their ``source``) has stored
    (a scan of the symbol's ticks: run only when resuming an import)."""
    if not main_path.exists():
        return 0
    conn = _connect(main_path)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM unified_ticks WHERE symbol = ? AND source = ?", (symbol, tag)
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def _outbox_targets(data_dir: Path) -> dict[str, int]:
    """Per outbox file of a role-less process (by its relay's name for it): the last
    position it holds for the bot's database (files with none left out)."""
    targets: dict[str, int] = {}
    client_dir = data_dir / CLIENT_DIR
    if not client_dir.is_dir():
        return targets
    for path in sorted(client_dir.glob("*.db")):
        try:
            conn = _connect(path)
        except sqlite3.Error:
            continue
        try:
            (last,) = conn.execute(
                "SELECT max(seq) FROM outbox WHERE destination = ?", (MAIN.name,)
            ).fetchone()
            identity = conn.execute(
                "SELECT value FROM writer_state WHERE key = 'outbox_id'"
            ).fetchone()
        except sqlite3.Error:
            continue  # no outbox yet: nothing there
        finally:
            conn.close()
        if last is not None and identity is not None:
            targets[f"{CLIENT_DIR}/{path.name}#{identity[0]}"] = int(last)
    return targets


def _undelivered(main_path: Path, targets: dict[str, int]) -> list[str]:
    return [origin for origin, last in targets.items() if _cursor(main_path, origin) < last]


def _cursor(main_path: Path, origin: str) -> int:
    if not main_path.exists():
        return 0
    conn = _connect(main_path)
    try:
        sql = "SELECT cursor FROM relay_cursors WHERE source = ?"
        row = conn.execute(sql, (origin,)).fetchone()
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
    return int(row[0]) if row else 0


async def wait_for_earlier_imports(data_dir: Path, main_path: Path, timeout: float) -> None:  # noqa: ASYNC109 - a plain deadline
    """Return once what the outbox files of role-less processes held for the bot's
    database when called is committed there (an import that ran while the bot was up
    may have left ticks and ledger rows on their way): the ledger and the ticks read
    next are then the whole truth.

    :raises TickImportError: after ``timeout`` seconds, naming the files.
    """
    deadline = time.monotonic() + timeout
    targets = await anyio.to_thread.run_sync(_outbox_targets, data_dir)
    while True:
        waiting = await anyio.to_thread.run_sync(_undelivered, main_path, targets)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(origin.partition("#")[0] for origin in waiting)
            raise TickImportError(
                f"what {names} holds for {main_path.name} is not stored there yet (the bot's "
                "relay delivers it; an earlier import may have left ticks in it): start the "
                "bot ('tradebus run --role chatgpt_bot') or wait for it, then run the import "
                "again; nothing was imported"
            )
        await anyio.sleep(0.1)
