"""Rows of several ticks in an outbox: how they are written, delivered whole or
refused whole, in order with the other events, and next to rows an earlier version
wrote (one event per row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

import schemas
from schemas import Tick
from tests.reliability._helpers import count, integrity, read_only
from tradebus import NotDelivered, open_node
from writers import TICKS_PER_ROW

MAIN = "unified_tick_pipeline.db"
LOGS = "system_logs.db"
_APPEND = "INSERT INTO outbox (destination, topic, data, grp, ts) VALUES ('main', ?, ?, ?, 1)"


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with read_only(path) as conn:
        return conn.execute(sql).fetchall()


def _ticks(n: int, first: int = 0) -> list[Tick]:
    return [
        Tick(symbol=f"S{i % 3}", bid=100.0 + i, ask=100.5 + i, ts=1_000_000 + i)
        for i in range(first, first + n)
    ]


def _stored(path: Path) -> list[tuple[object, ...]]:
    return _rows(path, "SELECT symbol, bid, ts FROM unified_ticks ORDER BY seq")


async def test_ticks_share_rows_and_keep_their_order_with_other_events(tmp_path: Path) -> None:
    before, after = _ticks(TICKS_PER_ROW + 10), _ticks(5, first=5_000)
    async with open_node(tmp_path, roles=["api_server"]) as api:
        calls = api.integration("api_server")
        for tick in before:
            api.bus.publish_nowait(tick)
        await calls.log_trade_execution(  # the bot's database too: between the ticks
            ticket=7, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
        )
        for tick in after:
            api.bus.publish_nowait(tick)
        await api.bus.flush()
        # The ticks before the execution in rows of up to TICKS_PER_ROW, then the
        # execution alone, then the ticks after it: one row per run, whatever the batches.
        grps = [
            int(str(g)) for (g,) in _rows(tmp_path / LOGS, "SELECT grp FROM outbox ORDER BY seq")
        ]
        execution = grps.index(0)
        assert sum(-g if g < 0 else 1 for g in grps[:execution]) == len(before)
        assert sum(-g if g < 0 else 1 for g in grps[execution + 1 :]) == len(after)
        assert min(grps) == -TICKS_PER_ROW
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        await api.delivered(timeout=60)
    assert _stored(tmp_path / MAIN) == [(t.symbol, t.bid, t.ts) for t in before + after]
    [(ticks_before,)] = _rows(
        tmp_path / MAIN,
        "SELECT count(*) FROM unified_ticks WHERE seq < "
        "(SELECT min(seq) FROM unified_ticks WHERE ts >= 1005000)",
    )
    assert ticks_before == len(before)
    assert _rows(tmp_path / MAIN, "SELECT ticket FROM trade_executions") == [(7,)]
    [(cursor, events)] = _rows(tmp_path / MAIN, "SELECT cursor, events FROM relay_cursors")
    assert cursor == len(grps)  # every row's position, once
    assert events == len(before) + len(after) + 1  # every event, once


async def test_rows_an_earlier_version_wrote_one_tick_each_are_delivered_with_new_ones(
    tmp_path: Path,
) -> None:
    old, new = _ticks(1_500), _ticks(1_500, first=10_000)
    async with open_node(tmp_path, roles=["api_server"]) as api:
        api.bus.publish_nowait(old[0])
    with sqlite3.connect(tmp_path / LOGS) as conn:  # a backlog of one tick per row
        conn.executemany(
            "INSERT INTO outbox (destination, topic, data, ts) VALUES ('main', ?, ?, 1)",
            [(tick.topic, schemas.encode(tick)) for tick in old[1:]],
        )
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        for tick in new:
            api.bus.publish_nowait(tick)
        await api.delivered(timeout=60)
    assert _stored(tmp_path / MAIN) == [(t.symbol, t.bid, t.ts) for t in old + new]


async def test_a_row_of_ticks_that_is_not_valid_is_refused_whole_and_the_others_delivered(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as api:
        api.bus.publish_nowait(_ticks(1)[0])  # position 1
    good = [schemas.encode(t) for t in _ticks(3, first=10)]
    bad_tick = msgspec.msgpack.encode(["Tick", "BTCUSDT", -1.0, 1.0, None, 0.0, "", 5])
    bad_symbol = msgspec.msgpack.encode(["Tick", "not a symbol", 1.0, 1.0, None, 0.0, "", 5])
    with sqlite3.connect(tmp_path / LOGS) as conn:
        for data, grp in (
            (schemas.pack_array([good[0], bad_tick, good[1]]), -3),  # 2: a negative bid
            (b"\xc1garbage", -2),  # 3: no ticks at all
            (schemas.pack_array(good[:2]), -5),  # 4: says five, holds two
            (schemas.pack_array([good[2], bad_symbol]), -2),  # 5: a symbol that is none
            (schemas.pack_array([good[2], schemas.encode(_ticks(1)[0])]), -2),  # 6: good
        ):
            conn.execute(_APPEND, ("market.tick", data, grp))
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        api.bus.publish_nowait(_ticks(1, first=20)[0])  # 7: delivered() waits for it
        with pytest.raises(NotDelivered, match=r"main.*(and 3 more)") as caught:
            await api.delivered(timeout=30)
        assert [position for position, _, _ in caught.value.events] == [2, 3, 4, 5]
    stored = [ts for _, _, ts in _stored(tmp_path / MAIN)]
    assert stored == [1_000_000, 1_000_012, 1_000_000, 1_000_020]
    letters = _rows(
        tmp_path / MAIN, "SELECT cursor, origin, topic, error FROM dead_letters ORDER BY cursor"
    )
    assert [c for c, _, _, _ in letters] == [2, 3, 4, 5]
    assert all(str(o).startswith(LOGS) and t == "market.tick" for _, o, t, _ in letters)
    errors = [str(e) for _, _, _, e in letters]
    assert "a row of 3 ticks, refused whole" in errors[0]
    assert "$[1][2]" in errors[0]  # the second tick's bid
    assert "a row of 5 ticks holds 2" in errors[2]
    assert "Tick.symbol" in errors[3]
    assert "one of a row of 2 ticks, refused whole" in errors[3]
    # Each refused row is kept whole in its dead letter, as it was sent.
    kept = _rows(tmp_path / MAIN, "SELECT data FROM dead_letters WHERE cursor = 2")
    assert kept == [(schemas.pack_array([good[0], bad_tick, good[1]]),)]
    assert integrity(tmp_path / MAIN) == "ok"
    assert count(tmp_path / MAIN, "relay_cursors") == 1


async def test_ticks_published_encoded_share_rows_and_are_delivered(tmp_path: Path) -> None:
    ticks = _ticks(50)
    async with open_node(tmp_path, roles=["api_server"]) as api:
        for tick in ticks:
            api.bus.publish_encoded_nowait(schemas.encode(tick), tick.topic)
        await api.bus.flush()
        assert _rows(tmp_path / LOGS, "SELECT min(grp) < -1 FROM outbox") == [(1,)]
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        await api.delivered(timeout=30)
    assert _stored(tmp_path / MAIN) == [(t.symbol, t.bid, t.ts) for t in ticks]
