"""tradebus import ticks reads its lines in steps (parsed together when they can be):
what it stores, reports and builds does not depend on where the steps and chunks end."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import tradebus._import as import_module
import tradebus._import_formats as import_formats
from schemas import TickImport
from tradebus import open_node
from tradebus._import import import_ticks
from tradebus._import_formats import BulkParser, Columns
from tradebus._import_lines import Block
from tradebus._import_run import STEP, ImportRun

MAIN = "unified_tick_pipeline.db"


def _rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / MAIN) as conn:
        return conn.execute(sql).fetchall()


TICKS = "SELECT symbol, ts, bid, ask, last, volume, source FROM unified_ticks ORDER BY seq"
#: Not ts (the wall clock) nor complete (the last bars: as the node stopped).
CANDLES = (
    "SELECT symbol, timeframe, ts_open, open, high, low, close, volume, tick_count, revision "
    "FROM candles ORDER BY symbol, timeframe, ts_open"
)


def _ticks(data: Path) -> list[tuple[Any, ...]]:
    return _rows(data, TICKS)


def _candles(data: Path) -> list[tuple[Any, ...]]:
    return _rows(data, CANDLES)


def _histdata(path: Path, rows: int, bad: dict[int, str]) -> Path:
    """``rows`` HistData rows, 7 s apart (a bar of a minute holds about 9), the lines
    ``bad`` names (by number) replaced."""
    start = dt.datetime(2024, 1, 2, 17)
    lines = []
    for i in range(rows):
        when = start + dt.timedelta(seconds=7 * i, milliseconds=i % 1000)
        stamp = when.strftime("%Y%m%d %H%M%S") + f"{when.microsecond // 1000:03d}"
        lines.append(f"{stamp},1.{1000 + i % 97},1.{1100 + i % 89},{i % 3}")
    for number, line in bad.items():
        lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n")
    return path


def _without_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports from now on parse every line one by one (no bulk parser)."""
    parser_for = import_formats.parser_for

    def one_by_one(*args: Any) -> Any:
        parse, _, header = parser_for(*args)
        return parse, None, header

    monkeypatch.setattr(import_module, "parser_for", one_by_one)


#: Lines replaced (by number): (the line, the field reported; None: a blank line).
BAD = {
    7: ("20240102 170042006,abc,1.2,0", "bid"),  # the last line of the first chunk of 7
    8: ("", None),  # the first line of the second: blank
    15: ("20240102 1700XX014,1.1,1.2,0", "time"),  # the first of the third
    30: ("20240102 170330029,1.1,1.2", "row"),  # a field short
    STEP: ("20240102 200000000,1.1,1.2,-1", "volume"),  # the last line of a step
    STEP + 1: ("20240102 200000000,1.1,0,0", "ask"),  # the first of the next
    3 * STEP + 3: ("   ", None),  # after a step with none
}


def _bad(rows: int) -> dict[int, str]:
    return {number: line for number, (line, _) in BAD.items() if number <= rows}


async def _import_all(tmp_path: Path, name: str, source: Path, chunk: int, rows: int) -> Path:
    data = tmp_path / name
    result = await import_ticks(data, source, "EURUSD", chunk=chunk)
    errors = [(n, field) for n, (_, field) in BAD.items() if n <= rows and field is not None]
    assert (result.status, result.skipped) == ("imported", len(errors))
    assert [(e.line, e.field) for e in result.errors] == errors
    return data


# Exactly 3 chunks of 7; many chunks; steps of many lines, parsed together but where
# a bad row is (one by one then).
@pytest.mark.parametrize("rows", [21, 300, 3 * STEP + 10])
async def test_steps_and_chunks_store_report_and_build_what_lines_one_by_one_do(
    tmp_path: Path, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _histdata(tmp_path / "h.csv", rows, _bad(rows))
    errors = [(n, field) for n, (_, field) in BAD.items() if n <= rows and field is not None]
    stopped = await import_ticks(tmp_path / "stopped", source, "EURUSD", on_error="stop")
    assert (stopped.status, [(e.line, e.field) for e in stopped.errors]) == ("refused", errors)
    chunked = await _import_all(tmp_path, "chunked", source, 7, rows)
    whole = await _import_all(tmp_path, "whole", source, 10**9, rows)
    _without_bulk(monkeypatch)
    alone = await _import_all(tmp_path, "one-by-one", source, 7, rows)
    alone_whole = await _import_all(tmp_path, "one-by-one-whole", source, 10**9, rows)
    expected = _ticks(alone)
    assert len(expected) == rows - len(_bad(rows))
    ledger = "SELECT position, byte_offset, ticks, skipped, first_ts, last_ts FROM tick_imports"
    final = _rows(alone, ledger)
    skipped = sum(1 for n, (_, field) in BAD.items() if n <= rows and field is not None)
    assert final[0][:4] == (rows, source.stat().st_size, len(expected), skipped)
    for data in (chunked, whole, alone_whole):
        assert _ticks(data) == expected
        assert _candles(data) == _candles(alone)
        assert _rows(data, ledger) == final


class _Stop(Exception):
    pass


async def test_a_chunk_ends_where_its_last_tick_is_and_says_where_to_resume(
    tmp_path: Path,
) -> None:
    source = _histdata(tmp_path / "h.csv", 21, _bad(21))
    data = tmp_path / "data"
    seen: list[int] = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise _Stop  # after the second chunk's ledger row: the node still stores it

    with pytest.raises(_Stop):
        await import_ticks(data, source, "EURUSD", chunk=7, progress=stop_after_two)
    # 7 ticks: lines 1-6 and 9 (7 is bad, 8 blank); 14: then 10-14, 16 and 17 (15 bad).
    offsets = [len(line) + 1 for line in source.read_text().split("\n")]
    assert seen == [sum(offsets[:9]), sum(offsets[:17])]
    assert _rows(data, "SELECT position, ticks, skipped, status FROM tick_imports") == [
        (17, 14, 2, "partial")
    ]
    resumed = await import_ticks(data, source, "EURUSD", chunk=7)
    assert (resumed.status, resumed.resumed_from, resumed.total_ticks) == ("resumed", 17, 18)
    assert (resumed.ticks, resumed.skipped, resumed.total_skipped) == (4, 0, 2)
    assert len(_ticks(data)) == 18


async def test_a_tick_the_bus_refuses_is_a_bad_row_of_its_line(tmp_path: Path) -> None:
    lines = [f"line {n}" for n in range(1, 11)]
    ts = [1_704_189_600_000_000_000 + n for n in range(10)]

    def bulk(step: list[str]) -> Columns | None:
        # Parsed together; the fifth's bid is one the bus refuses (the parsers never
        # give such a value: this stands for one they might let through).
        first = int(step[0].split()[1]) - 1
        bids = [float("nan") if first + k == 4 else 1.1 for k in range(len(step))]
        count = len(step)
        return ts[first : first + count], bids, [1.2] * count, None, [0.0] * count

    def never(line: str) -> None:
        raise AssertionError("not parsed one by one")

    async with open_node(tmp_path, roles=["chatgpt_bot"], monitor=None, candles=()) as node:
        state = TickImport(file_hash="ab" * 32, symbol="EURUSD", format="histdata", ts=0)
        run = ImportRun(node, state, tag="import:abababababababab", chunk=4, committed=0)
        await run.start()
        parse_many: BulkParser = bulk
        await run.read(
            [Block(lines[:6], None, 60), Block(lines[6:], None, 100)], never,
            bulk=parse_many, header=False, replay=False, progress=None,
        )  # fmt: skip
        await run.finish()
    assert [(e.line, e.field, e.value) for e in run.errors] == [(5, "bid", "line 5")]
    assert (run.published, run.skipped, run.state.ticks, run.state.position) == (9, 1, 9, 10)
    stored = _rows(tmp_path, "SELECT ts FROM unified_ticks ORDER BY seq")
    assert [row[0] for row in stored] == ts[:4] + ts[5:]
