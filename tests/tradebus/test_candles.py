"""The candle service: bars in the bot's database from the ticks on the bus."""

from __future__ import annotations

import math
import random
import signal
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from schemas import Tick
from tradebus import CandleService, Node, TradebusError, open_node
from writers import InvalidOption

from ..writers._helpers import wait_until
from ._candle_oracle import MINUTE, NS, Bars, oracle, random_ticks

TIMEFRAMES = ("M1", "M5", "M15", "H1", "D1")


def stored(path: Path) -> dict[tuple[str, str, int], tuple[object, ...]]:
    """Every stored candle: key -> (open, high, low, close, volume, tick_count,
    complete, revision)."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT symbol, timeframe, ts_open, open, high, low, close, volume, tick_count, "
            "complete, revision FROM candles"
        ).fetchall()
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def assert_bars(found: dict[tuple[str, str, int], tuple[object, ...]], expected: Bars) -> None:
    assert found.keys() == expected.keys()
    for key, (o, h, low, c, v, n) in expected.items():
        row = found[key]
        assert row[:4] == (o, h, low, c), key
        assert row[5] == n, key
        assert math.isclose(float(row[4]), v, rel_tol=1e-12, abs_tol=1e-9), key  # type: ignore[arg-type]


async def publish(node: Node, ticks: list[Tick]) -> None:
    for tick in ticks:
        await node.bus.publish(tick)


def last_bars(found: dict[tuple[str, str, int], tuple[object, ...]]) -> set[tuple[str, str, int]]:
    """The latest bar of each symbol and timeframe."""
    latest: dict[tuple[str, str], int] = {}
    for symbol, tf, ts in found:
        latest[(symbol, tf)] = max(ts, latest.get((symbol, tf), ts))
    return {(s, tf, ts) for (s, tf), ts in latest.items()}


async def test_replayed_ticks_make_the_bars_pandas_makes_and_the_last_ones_are_stored_incomplete(
    tmp_path: Path,
) -> None:
    ticks = random_ticks(7, 12_000, symbols=("EURUSD", "BTCUSDT"))
    async with open_node(tmp_path, candles=()) as node:
        async with CandleService(node) as candles:
            await publish(node, ticks)
        stats = candles.statistics()
    found = stored(node.path("main"))
    assert_bars(found, oracle(ticks, TIMEFRAMES))
    # The bars in progress at shutdown are stored, marked incomplete; the others complete.
    incomplete = {key for key, row in found.items() if row[6] == 0}
    assert incomplete == last_bars(found)
    assert all(row[7] == 0 for row in found.values())
    assert (stats.ticks, stats.late_ticks, stats.revisions, stats.symbols) == (12_000, 0, 0, 2)
    assert stats.stored_incomplete == len(incomplete) == 10


async def test_late_ticks_revise_the_bar_of_their_own_interval(tmp_path: Path) -> None:
    ticks = random_ticks(11, 6_000, symbols=("EURUSD",))
    rng = random.Random(3)
    # 40 ticks arrive late: each after a tick of a later minute arrived.
    late = set(rng.sample(range(100, 5_000), 40))
    order = [t for i, t in enumerate(ticks) if i not in late]
    for i in sorted(late):
        at = next(j for j, t in enumerate(order) if t.ts >= ticks[i].ts + 2 * MINUTE)
        order.insert(at + 1, ticks[i])
    async with open_node(tmp_path, candles=()) as node:
        async with CandleService(node) as candles:
            await publish(node, order)
        stats = candles.statistics()
    found = stored(node.path("main"))
    # As if every tick had come in timestamp order (those of one timestamp in the order
    # they arrived: pandas sorts stably).
    assert_bars(found, oracle(order, TIMEFRAMES))
    assert stats.late_ticks >= 40  # once per timeframe a tick was late for
    assert stats.revisions > 0
    revised = {key for key, row in found.items() if int(row[7]) > 0}  # type: ignore[call-overload]
    # Each minute a late tick fell in was revised, unless the late ticks were its only
    # ones (then the bar was made by them: stored once, revision 0).
    minute = {i: ticks[i].ts - ticks[i].ts % MINUTE for i in range(len(ticks))}
    on_time = {minute[i] for i in minute if i not in late}
    assert {("EURUSD", "M1", minute[i]) for i in late if minute[i] in on_time} == {
        key for key in revised if key[1] == "M1"
    }
    assert all(found[key][6] == 1 for key in revised)  # a revised bar stays complete


async def test_a_restart_in_the_middle_of_a_bar_completes_it_as_if_it_had_run_through(
    tmp_path: Path,
) -> None:
    ticks = random_ticks(5, 8_000, symbols=("EURUSD", "XAUUSD"))
    parts = [ticks[:2_000], ticks[2_000:4_321], ticks[4_321:]]
    restored = []
    for part in parts:
        async with open_node(tmp_path, candles=()) as node:
            async with CandleService(node) as candles:
                await publish(node, part)
            restored.append(candles.statistics().restored)
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle(ticks, TIMEFRAMES))
    assert {key for key, row in found.items() if row[6] == 0} == last_bars(found)
    assert restored == [0, 10, 10]  # 2 symbols x 5 timeframes
    assert all(row[7] == 0 for row in found.values())  # completing is not revising


async def test_the_wall_clock_closes_a_bar_once_its_interval_ended_and_its_symbol_is_quiet(
    tmp_path: Path,
) -> None:
    now = time.time_ns()
    minute = now - now % MINUTE - 3 * MINUTE  # it ended 2 minutes ago
    key = ("EURUSD", "M1", minute)
    ticks = [Tick(symbol="EURUSD", bid=1.0 + i / 100, ask=1.1 + i / 100, ts=minute + i * NS)
             for i in range(5)]  # fmt: skip
    async with open_node(tmp_path, candles=()) as node:
        async with CandleService(node, timeframes=["M1"], grace=0.1) as candles:
            await publish(node, ticks)
            with anyio.fail_after(10):
                await wait_until(lambda: stored(node.path("main")).get(key, (0,) * 8)[6] == 1)
        assert candles.statistics().stored_incomplete == 0  # nothing was open any more
    assert stored(node.path("main")) == {
        ("EURUSD", "M1", minute): (1.0, 1.04, 1.0, 1.04, 0.0, 5, 1, 0)
    }


async def test_the_bar_in_progress_is_published_incomplete_while_it_is_built(
    tmp_path: Path,
) -> None:
    now = time.time_ns()
    async with (
        open_node(tmp_path, candles=()) as node,
        CandleService(node, timeframes=["D1"], update_interval=0.0),
    ):
        await node.bus.publish(Tick(symbol="EURUSD", bid=1.0, ask=1.1, ts=now))
        day = now - now % (86_400 * NS)
        with anyio.fail_after(10):
            await wait_until(lambda: ("EURUSD", "D1", day) in stored(node.path("main")))
        assert stored(node.path("main"))[("EURUSD", "D1", day)][5:7] == (1, 0)


async def test_the_charted_price_is_configurable_and_ticks_without_a_last_price_are_skipped(
    tmp_path: Path,
) -> None:
    ticks = random_ticks(9, 3_000, symbols=("EURUSD",))
    for price in ("ask", "mid", "last"):
        data = tmp_path / price
        async with (
            open_node(data, candles=()) as node,
            CandleService(node, timeframes=["M1", "H1"], price=price) as candles,
        ):
            await publish(node, ticks)
        assert_bars(stored(node.path("main")), oracle(ticks, ("M1", "H1"), price))
        skipped = sum(t.last is None for t in ticks) if price == "last" else 0
        assert candles.statistics().skipped == skipped


async def test_ticks_relayed_from_another_process_s_outbox_make_bars_too(
    tmp_path: Path,
) -> None:
    ticks = random_ticks(13, 2_000, symbols=("EURUSD",))
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"], candles=()) as node,
        CandleService(node, timeframes=["M1", "M5"]) as candles,
    ):
        # A script's node: its ticks go to its own outbox; the bot's relay publishes
        # them on the bot's bus (already encoded), where the service takes them.
        async with open_node(tmp_path, roles=()) as client:
            await publish(client, ticks)
            with anyio.fail_after(20):
                await client.delivered()  # the bot's writer stored them
        with anyio.fail_after(20):
            await candles.caught_up()
        assert candles.statistics().ticks == len(ticks)
    assert_bars(stored(node.path("main")), oracle(ticks, ("M1", "M5")))


async def test_the_service_runs_only_where_the_ticks_are_stored(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        with pytest.raises(TradebusError, match=r"unified_tick_pipeline\.db.*hosts api_server"):
            CandleService(node)
        with pytest.raises(InvalidOption, match="candles must be one of the timeframes"):
            CandleService(node, timeframes=["W1"])
        with pytest.raises(InvalidOption, match="grace must be a finite number of seconds > 0"):
            CandleService(node, grace=0)


async def test_a_late_tick_after_a_restart_revises_the_bar_stored_before_it(
    tmp_path: Path,
) -> None:
    ticks = random_ticks(17, 3_000, symbols=("EURUSD",))
    early = ticks[100]  # arrives after the restart, when its bars are long closed
    rest = [t for t in ticks if t is not early]
    for part in (rest[:1_500], [*rest[1_500:2_000], early], rest[2_000:]):
        async with open_node(tmp_path, candles=()) as node, CandleService(node) as candles:
            await publish(node, part)
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle([*rest[:100], early, *rest[100:]], TIMEFRAMES))
    minute = early.ts - early.ts % MINUTE
    assert found[("EURUSD", "M1", minute)][6:] == (1, 1)  # complete, revised once
    assert candles.statistics().late_ticks == 0  # the last run had none


async def test_a_bar_stored_incomplete_is_closed_by_the_wall_clock_after_a_restart(
    tmp_path: Path,
) -> None:
    now = time.time_ns()
    minute = now - now % MINUTE - 3 * MINUTE
    key = ("EURUSD", "M1", minute)
    tick = Tick(symbol="EURUSD", bid=1.0, ask=1.1, ts=minute + NS)
    async with open_node(tmp_path, candles=()) as node:
        async with CandleService(node, timeframes=["M1"], grace=3600.0) as candles:
            await node.bus.publish(tick)
            await candles.caught_up()
        assert stored(node.path("main"))[key][5:] == (1, 0, 0)  # stored incomplete
    async with (
        open_node(tmp_path, candles=()) as node,
        CandleService(node, timeframes=["M1"], grace=0.1) as candles,
    ):
        assert candles.statistics().restored == 1
        with anyio.fail_after(10):
            await wait_until(lambda: stored(node.path("main"))[key][6] == 1)
    assert stored(node.path("main")) == {key: (1.0, 1.0, 1.0, 1.0, 0.0, 1, 1, 0)}


async def test_the_bars_in_progress_are_stored_when_the_body_fails(tmp_path: Path) -> None:
    ticks = random_ticks(19, 500, symbols=("EURUSD",))

    async def strategy() -> None:
        async with (
            open_node(tmp_path, candles=()) as node,
            CandleService(node, timeframes=["M1", "H1"]),
        ):
            await publish(node, ticks)
            raise RuntimeError("the strategy failed")

    with pytest.raises(RuntimeError, match="the strategy failed"):
        await strategy()
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle(ticks, ("M1", "H1")))
    assert {key for key, row in found.items() if row[6] == 0} == last_bars(found)


async def test_the_bars_in_progress_are_stored_when_the_node_is_cancelled(
    tmp_path: Path,
) -> None:
    # A cancelled node (a Ctrl-C, a timeout around it) stops its services before its
    # writers: the candle service's last bars, incomplete, are stored with the ticks.
    ticks = random_ticks(31, 2_000, symbols=("EURUSD", "XAUUSD"))
    with anyio.CancelScope() as scope:
        async with open_node(tmp_path, candles=("M1", "H1")) as node:
            await publish(node, ticks)
            scope.cancel()
            await anyio.sleep(1)
    assert scope.cancelled_caught
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle(ticks, ("M1", "H1")))
    assert {key for key, row in found.items() if row[6] == 0} == last_bars(found)


@pytest.mark.parametrize("updates", ["none", "0"])  # bars in progress never / always stored
async def test_after_a_crash_the_ticks_stored_past_the_bars_are_caught_up_at_start(
    tmp_path: Path, updates: str
) -> None:
    worker = "tests.tradebus.candles_worker"
    result = await anyio.run_process(
        [sys.executable, "-m", worker, str(tmp_path), "23", "6000", updates], check=False
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    ticks = random_ticks(23, 6_000, symbols=("EURUSD", "XAUUSD"))
    async with open_node(tmp_path, candles=()) as node, CandleService(node) as candles:
        pass
    stats = candles.statistics()
    # The second half, which it never took, and the first half's ticks in the bars whose
    # last version was not stored before the kill.
    assert 3_000 <= stats.caught_up <= 6_000
    assert stats.late_ticks == 0
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle(ticks, TIMEFRAMES))
    assert {key for key, row in found.items() if row[6] == 0} == last_bars(found)


async def test_the_service_runs_as_one_of_the_node_s_services(tmp_path: Path) -> None:
    ticks = random_ticks(29, 1_000, symbols=("EURUSD",))
    node = Node(tmp_path, services=[lambda node: CandleService(node, timeframes=["M5"])])
    async with node:
        await publish(node, ticks)
    found = stored(tmp_path / "unified_tick_pipeline.db")
    assert_bars(found, oracle(ticks, ("M5",)))
    assert {key for key, row in found.items() if row[6] == 0} == last_bars(found)


async def test_candle_options_of_the_wrong_type_are_refused_naming_the_value(
    tmp_path: Path,
) -> None:
    for candles, said in [
        ([["M1"]], r"candles must be one of the timeframes"),
        ([{"M1"}], r"candles must be one of the timeframes"),
        ([None], r"candles must be one of the timeframes"),
        (5, r"candles must be a list of timeframes"),
    ]:
        with pytest.raises(InvalidOption, match=said):
            async with open_node(tmp_path, candles=candles):  # type: ignore[arg-type]
                pass
    with pytest.raises(InvalidOption, match="candle price must be one of bid, ask"):
        async with open_node(tmp_path, candle_price=["bid"]):  # type: ignore[arg-type]
            pass
    assert not (tmp_path / "unified_tick_pipeline.db").exists()
