"""``tradebus candles rebuild``: the stored ticks' bars again, stored where they differ."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import anyio

from tradebus import CandleService, open_node

from ._candle_oracle import MINUTE, oracle, random_ticks
from .test_candles import TIMEFRAMES, assert_bars, publish, stored

TICKS = random_ticks(21, 5_000, symbols=("EURUSD", "XAUUSD"))


async def _built_live(data: Path) -> None:
    async with open_node(data) as node, CandleService(node):
        await publish(node, TICKS)


async def _rebuild(data: Path, *extra: str) -> tuple[int, str, str]:
    result = await anyio.run_process(
        [sys.executable, "-m", "tradebus", "candles", "rebuild", "--symbol", "EURUSD",
         "--data-dir", str(data), *extra],
        check=False,
    )  # fmt: skip
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def _spoil(path: Path) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
    """Change one stored M5 bar and delete one M1 bar of EURUSD; return their keys."""
    with closing(sqlite3.connect(path)) as conn, conn:
        m5, m1 = (
            conn.execute(
                "SELECT symbol, timeframe, ts_open FROM candles WHERE symbol = 'EURUSD' "
                "AND timeframe = ? AND complete = 1 ORDER BY ts_open LIMIT 1 OFFSET 5",
                (tf,),
            ).fetchone()
            for tf in ("M5", "M1")
        )
        conn.execute("UPDATE candles SET high = high + 1 "
                     "WHERE symbol = ? AND timeframe = ? AND ts_open = ?", m5)  # fmt: skip
        conn.execute("DELETE FROM candles WHERE symbol = ? AND timeframe = ? AND ts_open = ?", m1)
    return m5, m1


async def test_a_rebuild_agrees_with_what_was_built_live(tmp_path: Path) -> None:
    await _built_live(tmp_path)
    before = stored(tmp_path / "unified_tick_pipeline.db")
    status, out, err = await _rebuild(tmp_path, "--dry-run")
    assert (status, err) == (0, "")
    assert "changed" not in out
    assert "added" not in out
    assert "M1: " in out
    assert "D1: " in out
    assert stored(tmp_path / "unified_tick_pipeline.db") == before


async def test_a_rebuild_without_the_bot_running_stores_what_differs_as_revisions(
    tmp_path: Path,
) -> None:
    await _built_live(tmp_path)
    path = tmp_path / "unified_tick_pipeline.db"
    m5, m1 = _spoil(path)
    status, out, _ = await _rebuild(tmp_path, "--dry-run")
    assert status == 3  # a bar differs: nothing stored
    assert m1 not in stored(path)
    status, out, err = await _rebuild(tmp_path)
    assert (status, err) == (0, "")
    assert "M1: " in out
    assert "1 added" in out
    assert "M5: " in out
    assert "1 changed" in out
    assert "this command was the database's writer" in out
    found = stored(path)
    assert_bars(found, oracle(TICKS, TIMEFRAMES))
    assert found[m5][7] == 1  # a revision of the stored bar
    assert found[m1][7] == 0  # added
    # Every bar is complete now: those the service stored in progress at its stop too.
    assert {row[6] for key, row in found.items() if key[0] == "EURUSD"} == {1}


async def test_a_rebuild_while_the_bot_runs_goes_through_its_relay(tmp_path: Path) -> None:
    await _built_live(tmp_path)
    path = tmp_path / "unified_tick_pipeline.db"
    m5, _ = _spoil(path)
    async with open_node(tmp_path, roles=["chatgpt_bot"]):  # holds the lock, runs a relay
        status, out, err = await _rebuild(tmp_path, "--timeframe", "M1", "--timeframe", "M5")
    assert (status, err) == (0, "")
    assert "stored by the bot's process" in out
    found = stored(path)
    assert_bars(
        {k: v for k, v in found.items() if k[1] in ("M1", "M5")}, oracle(TICKS, ("M1", "M5"))
    )
    assert found[m5][7] == 1


async def test_a_bar_whose_ticks_were_pruned_is_kept_as_it_was_stored(tmp_path: Path) -> None:
    await _built_live(tmp_path)
    path = tmp_path / "unified_tick_pipeline.db"
    first = TICKS[0].ts - TICKS[0].ts % MINUTE
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM unified_ticks WHERE ts < ?", (first + 3 * MINUTE,))
    before = stored(path)
    status, out, _ = await _rebuild(tmp_path, "--timeframe", "M1", "--timeframe", "H1")
    assert status == 0
    assert "kept" in out
    assert "changed" not in out
    after = stored(path)
    assert {k: v[:6] for k, v in after.items()} == {k: v[:6] for k, v in before.items()}
