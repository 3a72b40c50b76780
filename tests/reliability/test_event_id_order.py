"""Ids a node makes sort after those stored: a run after one whose clock was ahead still
updates the position, and stored ids of other forms do not hold back those it makes."""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import anyio
import pytest

import schemas
from schemas import new_event_id
from tradebus import open_node

from ._helpers import one as _one
from ._helpers import read_only

_MAIN = "unified_tick_pipeline.db"
_LOGS = "system_logs.db"


_CLOCK_STEP = """
import sys, time

import anyio

shift_ns = int(sys.argv[2])
real = time.time_ns
time.time_ns = lambda: real() + shift_ns

from tradebus import open_node


async def main(data: str, step: str) -> None:
    async with open_node(data) as node:
        bot = node.integration("chatgpt_bot")
        if step == "ahead":
            await bot.log_trade_execution(
                ticket=12345, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0,
                volume=0.01, stop_loss=49_500.0,
            )
            await bot.update_position(
                ticket=12345, symbol="BTCUSDT", current_price=50_100.0, stop_loss=49_600.0
            )
        else:
            await bot.update_position(
                ticket=12345, symbol="BTCUSDT", current_price=50_300.0, stop_loss=49_800.0
            )


anyio.run(main, sys.argv[1], sys.argv[3])
"""


async def test_a_run_after_one_whose_clock_was_ahead_still_updates_the_position(
    tmp_path: Path,
) -> None:
    # Process 1 runs with its clock an hour ahead; process 2, later, with the right
    # clock, moves the stop again: its update must win (state follows event_id order).
    worker = tmp_path / "clock_step.py"
    worker.write_text(_CLOCK_STEP)
    data = tmp_path / "data"
    for shift, step in ((3_600 * 10**9, "ahead"), (0, "right")):
        result = await anyio.run_process(
            [sys.executable, str(worker), str(data), str(shift), step], check=False
        )
        assert result.returncode == 0, result.stderr.decode()
    # The second run starts a moment after the first: the id it finds is that much
    # less ahead of its clock (3599.4 s is said as 3599 s).
    said = re.search(r"made by a clock (\d+) s ahead of this one", result.stderr.decode())
    assert said is not None
    assert 3_500 <= int(said.group(1)) <= 3_600
    main = data / _MAIN
    assert _one(main, "SELECT stop_loss, current_price FROM trade_positions") == (
        49_800.0,
        50_300.0,
    )
    with read_only(main) as conn:
        updates = conn.execute(
            "SELECT stop_loss FROM position_updates ORDER BY event_id"
        ).fetchall()
    assert updates == [(49_600.0,), (49_800.0,)]


async def test_a_node_makes_ids_after_the_greatest_stored_one_of_the_right_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_node(tmp_path) as node:
        api = node.integration("api_server")
        await api.log_api_request(method="GET", path="/", status_code=200, duration_ms=1.0)
    # Another program's rows: an id of this millisecond above those this process makes,
    # and ids of other forms (from before validation refused them) that sort above it.
    ms = schemas.event_id_ts(new_event_id())
    h = f"{ms << 80 | 0x7 << 76 | 0xEFF << 64 | 0b10 << 62 | (2**62 - 1):032x}"
    stored = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    with closing(sqlite3.connect(tmp_path / _LOGS, isolation_level=None)) as conn:
        for event_id in (stored, "zzzz", "A", "FFFFFFFF-FFFF-7FFF-BFFF-FFFFFFFFFFFF", " x"):
            conn.execute(
                "INSERT INTO api_logs (method, path, status_code, duration_ms, client, ts, "
                "event_id) VALUES ('GET', '/', 200, 1.0, '', 0, ?)",
                (event_id,),
            )
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 3_600 * 10**9)  # an hour behind
    assert new_event_id() < stored
    async with open_node(tmp_path) as node:
        made = await node.integration("chatgpt_bot").log_trade_alert(
            alert_type="risk", severity="info", message="after"
        )
    assert made > stored
    assert schemas.event_id_ts(made) == ms + 1
