"""tradebus import ticks: what each format's file stores (CSV, HistData, TrueFX, MT5):
times to the nanosecond in the file's zone, line ends, byte order marks and encodings;
a file imported once per symbol, whatever its name."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tradebus._import import import_ticks
from tradebus._import_formats import TickImportError

from ._import_helpers import MAIN
from ._import_helpers import stored_ticks as _ticks

MS = 1_000_000


def _utc(text: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000) * MS


async def test_a_plain_csv_is_imported_once(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "time,bid,ask,last,volume,comment\n"
        "2024-01-02T10:00:00.250,100.5,100.7,100.6,3,x\n"
        "1704189601000,100.4,100.6,,0,ms epoch\n"
        "2024-01-02 10:00:02+01:00,100.3,100.5,,,offset\n"
    )
    data = tmp_path / "data"
    first = await import_ticks(data, path, "BTCUSDT")
    assert (first.format, first.status, first.via, first.ticks) == ("csv", "imported", "bot", 3)
    # The ticks' source names the import: the file's content hash.
    assert first.file_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    tag = f"import:{first.file_hash[:16]}"
    assert _ticks(data) == [
        ("BTCUSDT", _utc("2024-01-02T09:00:02"), 100.3, 100.5, None, 0.0, tag),
        ("BTCUSDT", _utc("2024-01-02T10:00:00.250"), 100.5, 100.7, 100.6, 3.0, tag),
        ("BTCUSDT", _utc("2024-01-02T10:00:01"), 100.4, 100.6, None, 0.0, tag),
    ]
    again = await import_ticks(data, path, "BTCUSDT")
    assert (again.status, again.ticks, again.total_ticks) == ("already imported", 0, 3)
    assert len(_ticks(data)) == 3
    # The same content under another name is the same file.
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    assert (await import_ticks(data, copy, "BTCUSDT")).status == "already imported"
    # For another symbol it is another import.
    assert (await import_ticks(data, path, "ETHUSDT")).ticks == 3


async def test_csv_times_keep_nanoseconds_and_honour_the_zone(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts;bid;ask\n"  # separated by semicolons
        "2024-07-01 12:00:00.123456789;1.1;1.2\n"
        "2024-07-01 12:00:01.000000001;1.1;1.2\n"  # the same minute, from its cache
        "1719835202.5;1.1;1.2\n"  # epoch seconds: UTC whatever the zone
    )
    data = tmp_path / "data"
    await import_ticks(data, path, "EURUSD", zone="America/New_York")  # EDT: UTC-4
    base = _utc("2024-07-01T16:00:00")
    assert [row[1] for row in _ticks(data)] == [  # in time order
        _utc("2024-07-01T12:00:02.500"),
        base + 123_456_789,
        base + 1_000_000_001,
    ]


async def test_histdata_ticks_are_est_without_daylight_saving(tmp_path: Path) -> None:
    path = tmp_path / "DAT_ASCII_EURUSD_T_202407.csv"
    # July: New York is on daylight time (UTC-4), HistData stays on UTC-5.
    path.write_text("20240701 000003660,1.071600,1.071770,0\n20240701 000004000,1.0717,1.0719,2\n")
    data = tmp_path / "data"
    result = await import_ticks(data, path, "EURUSD")
    assert result.format == "histdata"
    assert [row[1:4] for row in _ticks(data)] == [
        (_utc("2024-07-01T05:00:03.660"), 1.0716, 1.07177),
        (_utc("2024-07-01T05:00:04"), 1.0717, 1.0719),
    ]


async def test_line_ends_a_byte_order_mark_and_a_last_line_without_newline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.csv"
    rows = [
        "20240102 170000000,1.1,1.2,0",
        "20240102 170001000,1.1,1.2,0",
        "",
        "20240102 170002000,1.1,1.2,0",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode())
    data = tmp_path / "data"
    assert (await import_ticks(data, path, "EURUSD")).ticks == 3
    with sqlite3.connect(data / MAIN) as conn:
        assert conn.execute("SELECT position, byte_offset FROM tick_imports").fetchone() == (
            4, path.stat().st_size
        )  # fmt: skip


async def test_truefx_ticks_are_utc_and_of_the_pair(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD-2024-01.csv"
    path.write_text(
        "EUR/USD,20240102 00:00:00.086,1.10416,1.10438\n"
        "EUR/GBP,20240102 00:00:00.100,0.86,0.87\n"
        "EUR/USD,20240102 00:00:01.5,1.10417,1.10439\n"
    )
    data = tmp_path / "data"
    result = await import_ticks(data, path, "EURUSD")
    assert (result.format, result.ticks, result.skipped) == ("truefx", 2, 1)
    assert (result.errors[0].line, result.errors[0].field) == (2, "pair")
    assert [row[1] for row in _ticks(data)] == [
        _utc("2024-01-02T00:00:00.086"),
        _utc("2024-01-02T00:00:01.500"),
    ]


async def test_mt5_exports_carry_the_other_side_forward_in_server_time(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD_ticks.csv"
    rows = [
        "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>",
        "2024.01.02\t02:00:00.100\t1.10400\t\t\t\t2",  # no ask yet: no tick
        "2024.01.02\t02:00:00.200\t\t1.10420\t\t\t4",
        "2024.01.02\t02:00:00.300\t1.10410\t\t\t\t2",
        "2024.01.02\t02:00:00.400\t\t\t\t\t6",  # nothing new
    ]
    # MT5 writes its exports in UTF-16 with a byte order mark.
    path.write_bytes("\r\n".join(rows).encode("utf-16"))
    data = tmp_path / "data"
    result = await import_ticks(data, path, "EURUSD", zone="+02:00")
    assert (result.format, result.ticks, result.incomplete, result.skipped) == ("mt5", 2, 2, 0)
    assert [row[1:4] for row in _ticks(data)] == [
        (_utc("2024-01-02T00:00:00.200"), 1.104, 1.1042),
        (_utc("2024-01-02T00:00:00.300"), 1.1041, 1.1042),
    ]
    with pytest.raises(TickImportError, match="unknown time zone 'Mars/Base'"):
        await import_ticks(data, path, "EURUSD", zone="Mars/Base")
