"""tradebus import ticks: bad rows (a bad value, a time a tick cannot carry, more
fields than the header) reported by line and field, and skipped or stopping the
import before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebus._import import import_ticks
from tradebus._import_formats import TickImportError

from ._import_helpers import MAIN
from ._import_helpers import ledger as _ledger
from ._import_helpers import stored_ticks as _ticks


async def test_bad_rows_are_reported_by_line_and_skipped_or_stop_the_import(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,bid,ask\n1704189600,1.1,1.2\n1704189601,abc,1.2\n\n1704189602,1.1,-1\n1704189603,1,2\n"
    )
    data = tmp_path / "data"
    stopped = await import_ticks(data, path, "EURUSD", on_error="stop")
    assert (stopped.status, stopped.skipped) == ("refused", 2)
    assert not (data / MAIN).exists()  # nothing was imported, nothing opened
    assert [(e.line, e.field, e.value) for e in stopped.errors] == [
        (3, "bid", "abc"),
        (5, "ask", "-1"),
    ]
    skipped = await import_ticks(data, path, "EURUSD")
    assert (skipped.status, skipped.ticks, skipped.skipped) == ("imported", 2, 2)
    assert _ledger(data) == [(6, 2, 2, "complete")]
    bad = tmp_path / "what.txt"
    bad.write_text("hello,world\n")
    with pytest.raises(TickImportError, match="cannot tell the format"):
        await import_ticks(data, bad, "EURUSD")


async def test_a_time_a_tick_cannot_carry_is_a_bad_row_of_its_line(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts,bid,ask\n1700000020,1.1,1.2\n9999999999999999999,1.1,1.2\n"
        "99999999999999999999,1.1,1.2\n2300-01-01T00:00:00,1.1,1.2\n"
        "1960-01-01T00:00:00,1.1,1.2\n1700000022,1.1,1.2\n"
    )
    data = tmp_path / "data"
    stopped = await import_ticks(data, path, "EURUSD", on_error="stop")
    assert (stopped.status, stopped.skipped) == ("refused", 4)
    assert not (data / MAIN).exists()
    assert [(e.line, e.field) for e in stopped.errors] == [
        (3, "ts"),
        (4, "ts"),
        (5, "ts"),
        (6, "ts"),
    ]
    assert "1970-01-01 to 2262-04-11" in stopped.errors[0].why
    skipped = await import_ticks(data, path, "EURUSD")
    assert (skipped.status, skipped.ticks, skipped.skipped) == ("imported", 2, 4)
    assert [row[1] for row in _ticks(data)] == [1700000020 * 10**9, 1700000022 * 10**9]
    histdata = tmp_path / "h.csv"
    histdata.write_text("20240102 170000000,1.1,1.2,0\n23000102 170000000,1.1,1.2,0\n")
    result = await import_ticks(data, histdata, "EURUSD")
    assert (result.ticks, [(e.line, e.field) for e in result.errors]) == (1, [(2, "time")])


async def test_a_row_with_more_fields_than_the_header_is_a_bad_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = tmp_path / "extra.csv"
    csv.write_text("ts,bid,ask\n1700000036,1.1,1.2\n1700000037,1,1.1,1.2\n1700000038,1.1,1.2,\n")
    stopped = await import_ticks(data, csv, "EURUSD", on_error="stop")
    assert (stopped.status, [(e.line, e.field) for e in stopped.errors]) == (
        "refused",
        [(3, "row")],
    )
    assert "expected 3 fields as in the header, not 4" in stopped.errors[0].why
    result = await import_ticks(data, csv, "EURUSD")  # a trailing separator is no field
    assert (result.ticks, result.skipped) == (2, 1)
    truefx = tmp_path / "EURUSD-2024-01.csv"
    truefx.write_text(
        "EUR/USD,20240102 00:00:00.123,1.1,1.2\nEUR/USD,20240102 00:00:01.123,1,1.1,1.2\n"
    )
    result = await import_ticks(data, truefx, "EURUSD")
    assert (result.ticks, [(e.line, e.field) for e in result.errors]) == (1, [(2, "row")])
    mt5 = tmp_path / "mt5.csv"
    mt5.write_text(
        "<DATE>\t<TIME>\t<BID>\t<ASK>\n2024.01.02\t10:00:00.000\t1.1\t1.2\n"
        "2024.01.02\t10:00:01.000\t1\t1.1\t1.2\n"
    )
    result = await import_ticks(data, mt5, "EURUSD")
    assert (result.ticks, [(e.line, e.field) for e in result.errors]) == (1, [(3, "row")])
