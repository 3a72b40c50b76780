"""``import_ticks``: load a file of historical ticks into the bot's database.

Ticks are published on a node's bus as a stream (``publish_each_nowait``, waiting
for room when a buffer is full), with a :class:`~schemas.TickImport` ledger row before
the first tick and after every chunk: see :mod:`tradebus._import_run` for why what is
committed always says where to resume. An import killed at any moment and run again
stores every tick once; a file imported whole is skipped.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import BinaryIO, Literal

import anyio
import msgspec

from schemas import InvalidEvent, TickImport, check_symbol
from writers import MAIN, WriterLockError

from ._import_formats import (
    FORMATS,
    BadRow,
    BulkParser,
    Format,
    RowParser,
    TickImportError,
    clock,
    parser_for,
    sniff,
)
from ._import_ledger import committed_ticks, import_lock, read_ledger, wait_for_earlier_imports
from ._import_lines import blocks
from ._import_run import KEPT_ERRORS, STEP, ImportRun, RowError
from ._lock_refusal import expected_lock_refusal
from ._node import Node
from ._open_node import open_node

__all__ = ["CHUNK", "ImportResult", "RowError", "import_ticks"]

#: Ticks per atomic group (one transaction of the bot's writer, with the ledger row).
CHUNK = 10_000
OnError = Literal["skip", "stop"]


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did.

    ``status``: ``imported`` (the whole file, in this run), ``resumed`` (an earlier
    run had committed its first ``resumed_from`` lines), ``already imported``
    (nothing to do) or ``refused`` (``on_error="stop"`` found bad rows: nothing
    imported). ``via``: ``bot`` (this process hosted the bot's role and wrote its
    database), ``client`` (the bot runs elsewhere: the ticks went through this
    process's outbox file and its relay stored them) or ``none`` (refused: no node
    was opened).
    """

    path: str
    symbol: str
    format: Format
    file_hash: str
    status: Literal["imported", "resumed", "already imported", "refused"]
    via: Literal["bot", "client", "none"]
    lines: int
    resumed_from: int
    #: Ticks this run published, and those it found stored by a run killed mid-chunk.
    ticks: int
    recovered: int
    total_ticks: int
    skipped: int
    total_skipped: int
    incomplete: int
    first_ts: int | None
    last_ts: int | None
    seconds: float
    errors: tuple[RowError, ...]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes when a file is written: its size and times (a write sets the
    change time too, which no one can set back)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class _Unchanged:
    """Reads a file that must stay as it was when it was hashed: hashes the bytes
    it reads, and raises :class:`TickImportError` as soon as the file's size or
    times differ from ``before`` (its state when it was hashed)."""

    def __init__(self, f: BinaryIO, path: Path, before: os.stat_result) -> None:
        self.f, self.path, self.before = f, path, _identity(before)
        self.digest = hashlib.sha256()
        self.check()

    def check(self) -> None:
        now = _identity(os.fstat(self.f.fileno()))
        if now != self.before:
            raise _changed(self.path, "it was written to")

    def read(self, size: int = -1, /) -> bytes:
        block = self.f.read(size)
        self.digest.update(block)
        self.check()
        return block

    def tell(self) -> int:
        return self.f.tell()


def _changed(path: Path, what: str) -> TickImportError:
    return TickImportError(
        f"{path} changed while it was imported ({what}): the import was stopped and is "
        "not marked complete, as its ticks would not all come from one content of the "
        "file; wait until nothing writes the file any more (or import a copy of it), "
        "then import it again"
    )


def _encoding(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"


async def import_ticks(
    data_dir: str | Path,
    path: str | Path,
    symbol: str,
    *,
    fmt: Format | Literal["auto"] = "auto",
    zone: str | None = None,
    on_error: OnError = "skip",
    node: Node | None = None,
    progress: Callable[[int, int], None] | None = None,
    wait_timeout: float = 60.0,
    chunk: int = CHUNK,
) -> ImportResult:
    """Import the ticks of ``path`` for ``symbol`` into the bot's database.

    Without ``node``, opens one: hosting ``chatgpt_bot`` if its lock is free (this
    process writes the bot's database), else hosting no role (the running bot's relay
    stores the ticks from this process's outbox file; the call returns once they
    are stored). ``progress(bytes_done, bytes_total)`` is called per chunk.

    :param on_error: ``skip`` imports every valid row and counts (and reports) the bad
        ones; ``stop`` checks the whole file first and imports nothing if a row is bad.
    :raises TickImportError: the file cannot be read as ``fmt``, or the wait for an
        earlier import's ticks still in an outbox file timed out.
    """
    started = time.monotonic()
    path, data_dir = Path(path), Path(data_dir)
    try:
        check_symbol("symbol", symbol)
    except InvalidEvent as exc:
        raise TickImportError(f"cannot import {path}: {exc}") from exc
    if not path.is_file():
        raise TickImportError(f"cannot import {path}: no such file")
    before = path.stat()
    digest = await anyio.to_thread.run_sync(file_hash, path)  # the loop stays free
    if _identity(path.stat()) != _identity(before):
        raise _changed(path, "it was written to as it was hashed")
    encoding = _encoding(path)
    total = path.stat().st_size
    with path.open("rb") as f:  # noqa: ASYNC230 - the first block of a local file
        first_line = next((b.lines[0] for b in blocks(f, encoding) if b.lines), "")
    chosen: Format = sniff(first_line) if fmt == "auto" else fmt
    if chosen not in FORMATS:
        raise TickImportError(f"unknown format {fmt!r}: use auto or one of {', '.join(FORMATS)}")
    parser, bulk, header = parser_for(chosen, clock(zone, chosen), symbol, first_line)

    def result(**fields: object) -> ImportResult:
        base: dict[str, object] = {
            "path": str(path), "symbol": symbol, "format": chosen, "file_hash": digest,
            "lines": 0, "resumed_from": 0, "ticks": 0, "recovered": 0, "total_ticks": 0,
            "skipped": 0,
            "total_skipped": 0, "incomplete": 0, "first_ts": None, "last_ts": None,
            "errors": (), "seconds": time.monotonic() - started,
        }  # fmt: skip
        base.update(fields)
        return ImportResult(**base)  # type: ignore[arg-type]

    if on_error == "stop":
        errors, count, _ = await anyio.to_thread.run_sync(
            _check, path, encoding, parser, bulk, header
        )
        if count:
            return result(status="refused", via="none", skipped=count, errors=errors)
        parser, bulk, header = parser_for(chosen, clock(zone, chosen), symbol, first_line)

    async with AsyncExitStack() as stack:
        stack.enter_context(import_lock(Path(node.data_dir) if node else data_dir, digest, symbol))
        if node is None:
            node = await _open(stack, data_dir)
        hosted = MAIN.name in node.statistics().writers
        via: Literal["bot", "client"] = "bot" if hosted else "client"
        main_path = node.path(MAIN.name)
        await wait_for_earlier_imports(node.data_dir, main_path, wait_timeout)
        ledger = read_ledger(main_path, digest, symbol)
        if ledger is not None and ledger.status == "complete":
            return result(
                status="already imported", via=via, lines=ledger.position,
                resumed_from=ledger.position, total_ticks=ledger.ticks,
                total_skipped=ledger.skipped, first_ts=ledger.first_ts, last_ts=ledger.last_ts,
            )  # fmt: skip
        tag = f"import:{digest[:16]}"
        state = ledger or TickImport(
            file_hash=digest, symbol=symbol, filename=path.name, format=chosen, ts=0
        )
        # Ticks an earlier run stored after its last ledger row (it was killed before
        # the next one): the first ones after the ledger's position, in file order.
        committed = 0
        if ledger is not None:
            stored = await anyio.to_thread.run_sync(committed_ticks, main_path, symbol, tag)
            committed = max(0, stored - ledger.ticks)
        run = ImportRun(node, state, tag=tag, chunk=chunk, committed=committed)
        await run.start()
        # A local file read in blocks; the run yields to the event loop as it publishes.
        # The bytes read must be those hashed: checked as each block is read, and
        # their hash at the end, before the ledger row says ``complete``.
        with path.open("rb") as f:  # noqa: ASYNC230
            reader = _Unchanged(f, path, before)
            await run.read(
                blocks(reader, encoding),
                parser,
                bulk=bulk,
                header=header,
                replay=chosen == "mt5" and state.position > 0,
                progress=None if progress is None else lambda done: progress(done, total),
            )
            if reader.digest.hexdigest() != digest:
                raise _changed(path, "the bytes read are not those hashed")
        await run.finish()
        if progress is not None:
            progress(total, total)
        if via == "client":
            await node.delivered()
        final = run.state
        return result(
            status="resumed" if ledger is not None else "imported", via=via,
            lines=final.position, resumed_from=state.position, ticks=run.published,
            recovered=run.recovered, total_ticks=final.ticks, skipped=run.skipped,
            total_skipped=final.skipped, incomplete=run.incomplete, first_ts=final.first_ts,
            last_ts=final.last_ts, errors=tuple(run.errors),
        )  # fmt: skip
    raise AssertionError("unreachable")  # pragma: no cover


async def _open(stack: AsyncExitStack, data_dir: Path) -> Node:
    """A node hosting the bot's role when its lock is free, else one hosting none."""
    try:
        # Candles are built as the ticks go in; no position monitor: last year's
        # prices must not trigger today's stops.
        with expected_lock_refusal():  # the bot's process runs: not an error
            return await stack.enter_async_context(
                open_node(data_dir, roles=["chatgpt_bot"], monitor=None)
            )
    except WriterLockError:
        return await stack.enter_async_context(open_node(data_dir, roles=()))


def _check(
    path: Path, encoding: str, parser: RowParser, bulk: BulkParser | None, header: bool
) -> tuple[tuple[RowError, ...], int, int]:
    """Every bad row of the file (the first :data:`KEPT_ERRORS`), their count, lines."""
    errors: list[RowError] = []
    count = lines_read = 0
    with path.open("rb") as f:
        for block in blocks(f, encoding):
            lines = block.lines
            for start in range(0, len(lines), STEP):
                step = lines[start : start + STEP]
                first = lines_read + 1
                lines_read += len(step)
                if first == 1 and header:
                    step, first = step[1:], 2
                if bulk is not None and bulk(step) is not None:
                    continue  # every line a row with a tick
                for number, line in enumerate(step, first):
                    if not line.strip():
                        continue
                    try:
                        parser(line)
                    except BadRow as exc:
                        count += 1
                        if len(errors) < KEPT_ERRORS:
                            errors.append(
                                RowError(line=number, field=exc.field, value=exc.value, why=exc.why)
                            )
    return tuple(errors), count, lines_read
