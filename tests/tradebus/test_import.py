"""tradebus import ticks: each format, idempotence, bad rows, a kill midway."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tradebus import open_node
from tradebus._import import import_ticks
from tradebus._import_formats import TickImportError
from tradebus._import_ledger import import_lock

MS = 1_000_000
MAIN = "unified_tick_pipeline.db"


def _ticks(data: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / MAIN) as conn:
        return conn.execute(
            "SELECT symbol, ts, bid, ask, last, volume, source FROM unified_ticks ORDER BY ts, seq"
        ).fetchall()


def _ledger(data: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(data / MAIN) as conn:
        return conn.execute("SELECT position, ticks, skipped, status FROM tick_imports").fetchall()


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


async def test_with_the_bot_running_the_ticks_go_through_its_relay(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("".join(f"20240102 1700{i:02d}000,1.1,1.2,0\n" for i in range(30)))
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):
        result = await import_ticks(data, path, "EURUSD", chunk=7)
        assert (result.via, result.ticks) == ("client", 30)
        # Returned once stored: the bot's database holds them and the ledger says so.
        assert len(_ticks(data)) == 30
        assert _ledger(data) == [(30, 30, 0, "complete")]
        assert (await import_ticks(data, path, "EURUSD")).status == "already imported"


def _committed_some(data: Path) -> bool:
    """Whether the import has committed a chunk (a ledger row after some ticks: the
    first row, written before any tick, says 0)."""
    try:
        conn = sqlite3.connect(f"file:{data / MAIN}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        rows = conn.execute("SELECT count(*) FROM tick_imports WHERE ticks > 0").fetchone()
        return bool(rows[0])
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _numbered_file(tmp_path: Path, lines: int) -> Path:
    """A HistData file whose row i has the volume i (to check each is stored once)."""
    path = tmp_path / "h.csv"
    with path.open("w") as f:
        for i in range(lines):
            seconds, millis = divmod(i, 1000)
            minutes, seconds = divmod(seconds, 60)
            f.write(f"20240102 17{minutes:02d}{seconds:02d}{millis:03d},1.1,1.2,{i}\n")
    return path


def _sent_some(data: Path) -> bool:
    """Whether an import through the outbox has committed rows of ticks to it (its first
    ledger row and some ticks; the bot's relay may not have stored them yet)."""
    for outbox in (data / "outboxes").glob("client-*.db"):
        try:
            conn = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            if conn.execute("SELECT count(*) FROM outbox").fetchone()[0] >= 2:
                return True
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    return False


def _kill_once_committing(
    data: Path, path: Path, committed: Callable[[Path], bool] = _committed_some
) -> None:
    """Run an import in a process and SIGKILL it once it has committed a chunk."""
    child = subprocess.Popen([sys.executable, "-c", _IMPORTER, str(data), str(path)])
    try:
        deadline = time.monotonic() + 120
        while not committed(data):
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import never got going"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)


_IMPORTER = textwrap.dedent(
    """
    import sys
    import anyio
    from tradebus._import import import_ticks

    anyio.run(lambda: import_ticks(sys.argv[1], sys.argv[2], "EURUSD", chunk=500))
    """
)


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


async def test_an_import_through_the_bots_relay_killed_midway_stores_every_tick_once(
    tmp_path: Path,
) -> None:
    lines = 100_000
    path = _numbered_file(tmp_path, lines)
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):  # the bot runs: imports are clients
        # Killed once its outbox holds some ticks (a row holds up to 1,000 of them): the
        # bot's relay stores what it committed; the run again goes on from there.
        await anyio.to_thread.run_sync(_kill_once_committing, data, path, _sent_some)
        result = await import_ticks(data, path, "EURUSD")
        assert (result.via, result.status, result.total_ticks) == ("client", "resumed", lines)
        assert sorted(int(row[5]) for row in _ticks(data)) == list(range(lines))  # each once
        assert _ledger(data)[0][1:] == (lines, 0, "complete")


def test_the_import_command_reports_and_exits_by_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("ts,bid,ask\n1704189600,1.1,1.2\n1704189601,abc,1.2\n")
    data = tmp_path / "data"

    def run(*extra: str, files: tuple[Path, ...] = (path,)) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tradebus", "import", "ticks", *map(str, files), "--symbol",
             "EURUSD", "--data-dir", str(data), *extra],
            capture_output=True, text=True, timeout=120,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    stopped = run("--on-error", "stop")
    assert stopped.returncode == 3
    assert "line 3: bid 'abc': not a number" in stopped.stderr
    assert "nothing imported" in stopped.stderr
    done = run()
    assert done.returncode == 3
    assert "1 ticks of EURUSD imported" in done.stdout
    again = run()
    assert again.returncode == 0
    assert "already imported" in again.stdout
    # Several files, one after the other: the worst status wins, the others still go in.
    other, missing = tmp_path / "more.csv", tmp_path / "missing.csv"
    other.write_text("ts,bid,ask\n1704189700,1.1,1.2\n1704189701,1.1,1.2\n")
    several = run(files=(path, other, missing))
    assert several.returncode == 1
    assert "already imported" in several.stdout
    assert "2 ticks of EURUSD imported" in several.stdout
    assert "missing.csv: no such file" in several.stderr


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


async def test_an_import_while_the_bot_runs_reports_no_failure(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("".join(f"20240102 1700{i:02d}000,1.1,1.2,0\n" for i in range(30)))
    data = tmp_path / "data"
    async with open_node(data, roles=["chatgpt_bot"]):  # holds the bot's lock
        done = await anyio.run_process(
            [sys.executable, "-m", "tradebus", "import", "ticks", str(path),
             "--symbol", "EURUSD", "--data-dir", str(data)],
            check=False,
        )  # fmt: skip
    said = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, said
    assert "already has a writer" not in said
    assert "failed" not in said
    assert "outbox" in said
    assert len(_ticks(data)) == 30
