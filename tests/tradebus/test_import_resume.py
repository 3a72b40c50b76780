"""tradebus import ticks: an import stopped or killed midway resumes where its ledger
says and stores every tick once; a file is not imported for a symbol twice at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tradebus._import import import_ticks
from tradebus._import_formats import TickImportError
from tradebus._import_ledger import import_lock

from ._import_helpers import kill_once_committing as _kill_once_committing
from ._import_helpers import ledger as _ledger
from ._import_helpers import numbered_file as _numbered_file
from ._import_helpers import stored_ticks as _ticks


class _Stop(Exception):
    pass


async def test_an_mt5_import_stopped_midway_resumes_with_the_book_it_had(tmp_path: Path) -> None:
    rows = ["<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>"]
    for i in range(40):  # bid and ask change on alternate rows: each carries the other
        side = f"1.{1000 + i}\t" if i % 2 == 0 else f"\t1.{1010 + i}"
        rows.append(f"2024.01.02\t10:00:{i:02d}.000\t{side}\t\t\t6")
    path = tmp_path / "mt5.csv"
    path.write_text("\n".join(rows) + "\n")
    whole, data = tmp_path / "whole", tmp_path / "data"
    expected = await import_ticks(whole, path, "EURUSD", chunk=7)

    def stop(done: int, total: int) -> None:
        raise _Stop  # after the first chunk's ledger row: the node still stores it

    with pytest.raises(_Stop):
        await import_ticks(data, path, "EURUSD", chunk=7, progress=stop)
    assert _ledger(data)[0][3] == "partial"
    resumed = await import_ticks(data, path, "EURUSD", chunk=7)
    assert resumed.status == "resumed"
    assert resumed.total_ticks == expected.total_ticks == 39  # the first row has no ask yet
    assert _ticks(data) == _ticks(whole)


async def test_a_file_being_imported_for_a_symbol_is_not_imported_twice_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.csv"
    path.write_text("20240102 170000000,1.1,1.2,0\n")
    data = tmp_path / "data"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with import_lock(data, digest, "EURUSD"):  # as another process importing it holds it
        with pytest.raises(TickImportError, match="another process is importing this file"):
            await import_ticks(data, path, "EURUSD")
        assert (await import_ticks(data, path, "GBPUSD")).ticks == 1  # another symbol
    assert (await import_ticks(data, path, "EURUSD")).ticks == 1


async def test_an_import_killed_midway_and_run_again_stores_every_tick_once(
    tmp_path: Path,
) -> None:
    lines = 200_000
    path = _numbered_file(tmp_path, lines)
    data = tmp_path / "data"
    _kill_once_committing(data, path)
    (position, ticks, _, status) = _ledger(data)[0]
    assert status == "partial"
    assert 0 < ticks < lines
    stored = len(_ticks(data))
    assert ticks <= stored < lines  # some ticks may be committed after the last ledger row
    result = await import_ticks(data, path, "EURUSD")
    assert (result.status, result.resumed_from, result.total_ticks) == ("resumed", position, lines)
    assert (result.recovered, result.ticks) == (stored - ticks, lines - stored)
    assert sorted(int(row[5]) for row in _ticks(data)) == list(range(lines))  # each once
    assert (await import_ticks(data, path, "EURUSD")).status == "already imported"
