"""Intelligent exits: trailing stops (by distance, by ATR, with activation and step)
and break-even moves, persisted, continuing from the stored stop after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import Candle, InvalidEvent
from tradebus import StaleUpdate, UnknownReference

from ._monitor_scripts import MAIN, monitored, monitoring, open_position, position, quotes, rows


def _stops(tmp_path: Path, ticket: int = 1) -> list[float]:
    """The stops of the position updates the monitor published, in order."""
    return [
        r[0]
        for r in rows(
            tmp_path / MAIN,
            "SELECT stop_loss FROM position_updates WHERE ticket = ? AND status = 'modified' "
            "ORDER BY id",
            (ticket,),
        )
    ]


async def test_a_trailing_stop_follows_the_bid_and_never_moves_back(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, trailing_distance=2.0)
        await quotes(
            node, monitor,
            (101.0, 101.1, 2_000),  # 99
            (104.0, 104.1, 2_001),  # 102
            (103.0, 103.1, 2_002),  # stays
            (102.5, 102.6, 2_003),  # stays
            (105.0, 105.1, 2_004),  # 103
        )  # fmt: skip
        stats = monitor.statistics()
    assert _stops(tmp_path) == [99.0, 102.0, 103.0]
    assert position(tmp_path, 1)[:2] == ("modified", 103.0)
    assert [m[2] for m in monitoring(tmp_path, "trailing_stop_moved")] == ["stop_trailed"] * 3
    assert stats.trailing_moves == 3


async def test_a_sell_trailing_stop_follows_the_ask(tmp_path: Path) -> None:
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await open_position(
            node, monitor, 1, direction="SELL", stop_loss=105.0, trailing_distance=2.0
        )
        await quotes(
            node, monitor,
            (97.9, 98.0, 2_000),  # 100
            (96.5, 97.0, 2_001),  # 99
            (98.0, 98.5, 2_002),  # stays
            (98.9, 99.0, 2_003),  # the ask at the stop: closed
        )  # fmt: skip
    assert _stops(tmp_path) == [100.0, 99.0]
    assert position(tmp_path, 1) == ("closed", 99.0, None, 99.0, 1.0)


async def test_a_trailing_stop_waits_for_its_activation_and_moves_in_steps(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(
            node, monitor, 1, stop_loss=95.0,
            trailing_distance=2.0, trailing_activation=3.0, trailing_step=1.0,
        )  # fmt: skip
        await quotes(
            node, monitor,
            (102.9, 103.0, 2_000),  # profit 2.9: not active yet
            (103.0, 103.1, 2_001),  # active: 101
            (103.5, 103.6, 2_002),  # 101.5 is less than a step further
            (104.0, 104.1, 2_003),  # 102
        )  # fmt: skip
    assert _stops(tmp_path) == [101.0, 102.0]


async def test_break_even_moves_the_stop_once_also_across_restarts(tmp_path: Path) -> None:
    exits: dict[str, Any] = {"breakeven_trigger": 2.0, "breakeven_offset": 0.5}
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, **exits)
        await quotes(node, monitor, (101.9, 102.0, 2_000), (102.0, 102.1, 2_001))
        await quotes(node, monitor, (103.0, 103.1, 2_002))
    async with monitored(tmp_path) as (node, monitor):
        await quotes(node, monitor, (102.5, 102.6, 3_000), (104.0, 104.1, 3_001))
        assert monitor.statistics().breakevens == 0
    assert _stops(tmp_path) == [100.5]
    [(_, _, status, details)] = monitoring(tmp_path, "breakeven_set")
    assert (status, details) == (
        "stop_moved",
        "EURUSD #1 stop loss moved from 95 to 100.5 (breakeven_set) at 102",
    )


async def test_trailing_continues_from_the_persisted_stop_after_a_restart(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, trailing_distance=2.0)
        await quotes(node, monitor, (104.0, 104.1, 2_000))  # 102
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await quotes(node, monitor, (103.0, 103.1, 3_000))  # not back to 101
        await quotes(node, monitor, (106.0, 106.1, 3_001))  # 104
        await quotes(node, monitor, (103.9, 104.0, 3_002))  # hit at 103.9
    assert _stops(tmp_path) == [102.0, 104.0]
    assert position(tmp_path, 1) == ("closed", 104.0, None, 103.9, pytest.approx(3.9))


def _bar(ts_open: int, low: float, high: float, close: float) -> Candle:
    return Candle(
        symbol="EURUSD", timeframe="M5", ts_open=ts_open, open=close, high=high, low=low,
        close=close,
    )  # fmt: skip


async def test_an_atr_trailing_stop_uses_the_closed_candles(tmp_path: Path) -> None:
    m5 = 300_000_000_000
    async with monitored(tmp_path) as (node, monitor):
        # Stored before the rule: read from the database when the rule arrives.
        for bar in (_bar(0, 99.0, 100.0, 99.5), _bar(m5, 99.0, 101.0, 100.0)):
            await node.bus.publish(bar, wait=True)
        await open_position(
            node, monitor, 1, stop_loss=90.0, trailing_atr=2.0, atr_timeframe="M5", atr_period=2
        )
        await quotes(node, monitor, (104.0, 104.1, 2_000))  # one closed bar: no ATR yet
        assert _stops(tmp_path) == []
        # The third bar opens: the second is closed. True ranges 1 and 2: ATR 1.5.
        await node.bus.publish(_bar(2 * m5, 100.0, 100.5, 100.2))
        await monitor.caught_up()
        await quotes(node, monitor, (104.0, 104.1, 2_001))  # 104 - 2 * 1.5
        # The forming bar is revised, then the next one closes it: the last two
        # closed bars' true ranges are 2 and 1 (the revised 100.5 - 99.5): ATR 1.5.
        await node.bus.publish(_bar(2 * m5, 99.5, 100.5, 100.2))
        await node.bus.publish(_bar(3 * m5, 100.0, 100.1, 100.0))
        await monitor.caught_up()
        await quotes(node, monitor, (104.0, 104.1, 2_002))  # 104 - 3: stays
        await quotes(node, monitor, (106.0, 106.1, 2_003))  # 106 - 3
    assert _stops(tmp_path) == [101.0, 103.0]


async def test_set_exit_rules_is_checked_against_the_committed_position(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        bot = node.integration("chatgpt_bot")
        with pytest.raises(UnknownReference, match="ticket 9 has no committed execution"):
            await bot.set_exit_rules(ticket=9, symbol="EURUSD", trailing_distance=1.0)
        await open_position(node, monitor, 1, stop_loss=95.0)
        with pytest.raises(InvalidEvent, match=r"ExitRule\.trailing_atr: give a trailing"):
            await bot.set_exit_rules(
                ticket=1, symbol="EURUSD", trailing_distance=1.0, trailing_atr=2.0
            )
        with pytest.raises(InvalidEvent, match=r"ExitRule\.symbol: position 1 is on 'EURUSD'"):
            await bot.set_exit_rules(ticket=1, symbol="GBPUSD", trailing_distance=1.0)
        with pytest.raises(InvalidEvent, match=r"ExitRule\.trailing_distance"):
            await bot.set_exit_rules(ticket=1, symbol="EURUSD", trailing_distance=-1.0)
        await bot.close_position(ticket=1, symbol="EURUSD", close_price=99.0)
        with pytest.raises(StaleUpdate, match="position 1 is closed"):
            await bot.set_exit_rules(ticket=1, symbol="EURUSD", trailing_distance=1.0)
    assert rows(tmp_path / MAIN, "SELECT count(*) FROM exit_rules") == [(0,)]


async def test_a_rule_set_later_replaces_the_earlier_one_and_an_empty_rule_clears_it(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        bot = node.integration("chatgpt_bot")
        await open_position(node, monitor, 1, stop_loss=95.0, trailing_distance=2.0)
        await bot.set_exit_rules(ticket=1, symbol="EURUSD", trailing_distance=1.0)
        await monitor.caught_up()
        await quotes(node, monitor, (104.0, 104.1, 2_000))  # 103
        await bot.set_exit_rules(ticket=1, symbol="EURUSD")
        await monitor.caught_up()
        await quotes(node, monitor, (106.0, 106.1, 2_001))  # no rule: stays
    async with monitored(tmp_path) as (node, monitor):
        await quotes(node, monitor, (108.0, 108.1, 3_000))  # still none after a restart
    assert _stops(tmp_path) == [103.0]


async def test_a_stop_beyond_the_range_of_a_float_is_no_move(tmp_path: Path) -> None:
    # A SELL trailing 1e308 behind an ask of 1.5e308: its stop would be inf. It stays
    # where it is (none), and the monitor carries on with the next position.
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await open_position(
            node, monitor, 1, direction="SELL", entry=1e308, trailing_distance=1e308
        )  # fmt: skip
        await quotes(node, monitor, (1.4e308, 1.5e308, 2_000))
        await open_position(
            node, monitor, 2, stop_loss=95.0, trailing_distance=2.0, symbol="GBPUSD", ts=3_000
        )  # fmt: skip
        await quotes(node, monitor, (101.0, 101.1, 4_000), symbol="GBPUSD")
        stats = monitor.statistics()
    assert position(tmp_path, 1)[:2] == ("open", None)
    assert (_stops(tmp_path, 1), _stops(tmp_path, 2)) == ([], [99.0])
    assert (stats.trailing_moves, stats.refused_events) == (1, 0)
