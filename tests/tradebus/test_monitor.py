"""The position monitor's stops and targets: the right side of the book, gaps, late
ticks, observe and simulate, each hit and alert fired once, also across restarts."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import anyio
import pytest

from schemas import MonitorMark, Tick
from tradebus import AccessDenied, Node, PositionMonitor, TradebusError, open_node

from ._monitor_scripts import (
    ANALYSIS,
    MAIN,
    alerts,
    dead_letters,
    monitored,
    monitoring,
    open_position,
    position,
    quotes,
    rows,
)


async def test_a_buy_triggers_on_the_bid_and_a_sell_on_the_ask(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, take_profit=110.0)
        await open_position(
            node, monitor, 2, direction="SELL", stop_loss=105.0, take_profit=90.0, symbol="GBPUSD"
        )
        # The BUY's ask reaches its stop and its target, the bid neither: nothing.
        await quotes(node, monitor, (95.2, 95.0, 2_000), (109.9, 110.1, 2_001))
        # The SELL's bid reaches its stop and target, the ask neither: nothing.
        await quotes(node, monitor, (105.0, 104.95, 2_000), symbol="GBPUSD")
        await quotes(node, monitor, (89.9, 90.05, 2_001), symbol="GBPUSD")
        assert monitoring(tmp_path) == []
        await quotes(node, monitor, (110.0, 110.2, 2_002))  # the BUY's bid at its target
        await quotes(node, monitor, (104.8, 105.1, 2_003), symbol="GBPUSD")  # SELL's ask
        stats = monitor.statistics()
    assert monitoring(tmp_path) == [
        (1, "take_profit_hit", "alert_triggered",
         "EURUSD #1 BUY take profit 110 hit: bid 110, slippage +0, tick ts 2002"),
        (2, "stop_loss_hit", "alert_triggered",
         "GBPUSD #2 SELL stop loss 105 hit: ask 105.1, slippage -0.1, tick ts 2003"),
    ]  # fmt: skip
    assert [a[:3] for a in alerts(tmp_path)] == [(1, "profit", "info"), (2, "risk", "warning")]
    assert (stats.take_profit_hits, stats.stop_loss_hits, stats.gaps) == (1, 1, 0)
    # Observing: the broker closes them, the bot logs the fills.
    assert position(tmp_path, 1)[0] == position(tmp_path, 2)[0] == "open"


async def test_a_gap_through_the_stop_reports_the_tick_price_and_its_slippage(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, take_profit=110.0)
        await quotes(node, monitor, (99.0, 99.1, 2_000), (90.0, 90.1, 2_001))
    [(_, kind, _, details)] = monitoring(tmp_path)
    assert kind == "stop_loss_hit"
    assert details == "EURUSD #1 BUY stop loss 95 hit: bid 90, slippage -5, tick ts 2001"
    assert rows(tmp_path / MAIN, "SELECT kind, level, price, ts FROM monitor_marks") == [
        ("stop_loss_hit", 95.0, 90.0, 2_001)
    ]


async def test_a_tick_through_both_levels_is_a_stop_loss_hit_that_says_so(tmp_path: Path) -> None:
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, take_profit=110.0)
        # The bot locked a profit above a lowered target: one bid crosses both.
        await node.integration("chatgpt_bot").update_position(
            ticket=1, symbol="EURUSD", current_price=107.0, stop_loss=106.0, take_profit=105.0
        )
        await monitor.caught_up()
        await quotes(node, monitor, (105.5, 105.6, 2_000))
        stats = monitor.statistics()
    [(_, kind, _, details)] = monitoring(tmp_path)
    assert kind == "stop_loss_hit"
    assert details.endswith(
        "the tick crossed both the stop loss and the take profit 105 (a gap): the stop loss wins"
    )
    assert (stats.stop_loss_hits, stats.take_profit_hits, stats.gaps) == (1, 0, 1)
    assert position(tmp_path, 1) == ("closed", 106.0, 105.0, 105.5, 5.5)


async def test_simulate_closes_at_the_tick_price_and_closes_the_recommendation(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        rec = await node.integration("desktop_agent").log_trade_recommendation(
            symbol="EURUSD", direction="SELL", entry_price=100.0, stop_loss=102.0,
            take_profit=97.0, confidence=70,
        )  # fmt: skip
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=7, symbol="EURUSD", direction="SELL", entry_price=100.0, volume=2.0,
            stop_loss=102.0, take_profit=97.0, recommendation_id=rec, ts=1_000,
        )  # fmt: skip
        await monitor.caught_up()
        await quotes(node, monitor, (96.8, 96.9, 2_000), (96.0, 96.1, 2_001))
        stats = monitor.statistics()
    assert position(tmp_path, 7) == ("closed", 102.0, 97.0, 96.9, pytest.approx(6.2))
    assert rows(
        tmp_path / ANALYSIS,
        "SELECT status, outcome, realized_pnl FROM trade_recommendations",
    ) == [("closed", "win", pytest.approx(6.2))]
    assert [m[1] for m in monitoring(tmp_path)] == ["take_profit_hit"]
    assert (stats.closes, stats.close_errors, stats.positions) == (1, 0, 0)
    assert dead_letters(tmp_path) == 0


async def test_late_ticks_and_ticks_before_the_open_are_ignored(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, ts=1_000)
        await quotes(
            node, monitor,
            (90.0, 90.1, 999),  # before the position was opened
            (99.0, 99.1, 2_000),
            (90.0, 90.1, 1_500),  # late: older than a tick handled before
        )  # fmt: skip
        assert monitoring(tmp_path) == []
        await quotes(node, monitor, (94.0, 94.1, 2_000))  # the same ts is not late
        stats = monitor.statistics()
        await open_position(node, monitor, 2, stop_loss=95.0, ts=3_000, symbol="GBPUSD")
        await quotes(node, monitor, (94.0, 94.1, 3_000), symbol="GBPUSD")  # at its open
    assert [(m[0], m[1]) for m in monitoring(tmp_path)] == [
        (1, "stop_loss_hit"),
        (2, "stop_loss_hit"),
    ]
    assert (stats.ticks, stats.late_ticks) == (4, 1)


async def test_ticks_of_symbols_without_positions_are_not_examined(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await quotes(node, monitor, (1.0, 1.1, 1), (1.0, 1.1, 2), symbol="USDJPY")
        await open_position(node, monitor, 1, stop_loss=95.0)
        await quotes(node, monitor, (1.0, 1.1, 3), symbol="USDJPY")
        await quotes(node, monitor, (99.0, 99.1, 4_000))
        assert (monitor.statistics().ticks, monitor.statistics().symbols) == (1, 1)


async def test_a_hit_fires_once_also_after_a_restart_until_the_levels_change(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, take_profit=110.0)
        await quotes(node, monitor, (94.0, 94.1, 2_000), (93.0, 93.1, 2_001))
    async with monitored(tmp_path) as (node, monitor):
        # The broker has not closed it yet: the same stop is hit again, not reported.
        await quotes(node, monitor, (92.0, 92.1, 3_000))
        assert monitor.statistics().stop_loss_hits == 0
        await node.integration("chatgpt_bot").update_position(
            ticket=1, symbol="EURUSD", current_price=92.0, stop_loss=91.0
        )
        await monitor.caught_up()
        await quotes(node, monitor, (90.5, 90.6, 3_001))
    assert [(m[1], m[3].split(" hit")[0]) for m in monitoring(tmp_path)] == [
        ("stop_loss_hit", "EURUSD #1 BUY stop loss 95"),
        ("stop_loss_hit", "EURUSD #1 BUY stop loss 91"),
    ]
    assert len(alerts(tmp_path)) == 2


async def test_pnl_alerts_fire_once_per_level_across_restarts(tmp_path: Path) -> None:
    options = {"loss_alerts": [20.0, 40.0], "profit_alerts": [30.0]}
    async with monitored(tmp_path, **options) as (node, monitor):
        await open_position(node, monitor, 1, volume=10.0, stop_loss=90.0)
        await quotes(node, monitor, (97.5, 97.6, 2_000), (97.0, 97.1, 2_001))  # loss 25, 30
    async with monitored(tmp_path, **options) as (node, monitor):
        await quotes(node, monitor, (97.5, 97.6, 3_000), (95.5, 95.6, 3_001))  # 25, 45
        await quotes(node, monitor, (103.5, 103.6, 3_002), (104.0, 104.1, 3_003))  # +35, +40
        stats = monitor.statistics()
    assert [a[1:3] for a in alerts(tmp_path)] == [
        ("risk", "warning"),
        ("risk", "warning"),
        ("profit", "info"),
    ]
    assert [a[3].split(" at ")[0] for a in alerts(tmp_path)] == [
        "EURUSD #1 unrealized loss 25 reached 20",
        "EURUSD #1 unrealized loss 45 reached 40",
        "EURUSD #1 unrealized profit 35 reached 30",
    ]
    assert stats.pnl_alerts == 2


async def test_a_position_opened_while_the_monitor_was_stopped_is_watched(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=5, symbol="EURUSD", direction="BUY", entry_price=100.0, volume=1.0,
            stop_loss=95.0, ts=1_000,
        )  # fmt: skip
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        assert monitor.statistics().positions == 1
        await quotes(node, monitor, (94.0, 94.1, 2_000))
    assert position(tmp_path, 5) == ("closed", 95.0, None, 94.0, -6.0)


async def _mark_without_its_events(tmp_path: Path) -> MonitorMark:
    """A monitor that stopped right after committing a hit's mark: the position is
    open, its alert and monitoring record were never published."""
    async with open_node(tmp_path, monitor=None) as node:
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=3, symbol="EURUSD", direction="BUY", entry_price=100.0, volume=1.0,
            stop_loss=95.0, ts=1_000,
        )  # fmt: skip
        mark = MonitorMark(
            ticket=3, symbol="EURUSD", kind="stop_loss_hit", level=95.0, severity="warning",
            message="EURUSD #3 BUY stop loss 95 hit: bid 94, slippage -1, tick ts 2000",
            price=94.0, ts=2_000,
        )  # fmt: skip
        await node.bus.publish(mark, wait=True)
    return mark


async def test_a_restart_after_a_mark_publishes_its_alert_and_closes_when_simulating(
    tmp_path: Path,
) -> None:
    await _mark_without_its_events(tmp_path)
    for _ in range(2):  # the second start finds it all done
        async with monitored(tmp_path, mode="simulate") as (node, monitor):
            await quotes(node, monitor, (93.0, 93.1, 3_000))
            await monitor.caught_up()
            assert monitor.statistics().stop_loss_hits == 0
    assert position(tmp_path, 3) == ("closed", 95.0, None, 94.0, -6.0)
    assert [m[1] for m in monitoring(tmp_path)] == ["stop_loss_hit"]
    assert len(alerts(tmp_path)) == 1
    assert dead_letters(tmp_path) == 0


async def test_observing_after_a_mark_publishes_its_alert_once_and_closes_nothing(
    tmp_path: Path,
) -> None:
    await _mark_without_its_events(tmp_path)
    for _ in range(2):
        async with monitored(tmp_path) as (node, monitor):
            await quotes(node, monitor, (93.0, 93.1, 3_000))
    assert position(tmp_path, 3)[0] == "open"
    assert [m[1] for m in monitoring(tmp_path)] == ["stop_loss_hit"]
    assert len(alerts(tmp_path)) == 1
    assert dead_letters(tmp_path) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"mode": "paper"},
            "mode must be 'observe' or 'simulate' (or None for no monitor), got 'paper'",
        ),
        (
            {"loss_alerts": [10.0, -1.0]},
            "PositionMonitor loss_alerts[1] must be a finite number > 0 (an amount of money, "
            "in the quote currency), got -1.0",
        ),
        ({"loss_alerts": [True]}, "loss_alerts[0] must be a finite number > 0"),
        ({"profit_alerts": [False]}, "profit_alerts[0] must be a finite number > 0"),
        ({"loss_alerts": [math.nan]}, "got nan"),
        ({"profit_alerts": [5, math.inf]}, "profit_alerts[1] must be a finite number > 0"),
        ({"loss_alerts": [0]}, "got 0"),
        ({"loss_alerts": ["5"]}, "got '5'"),
        ({"loss_alerts": [10**400]}, "loss_alerts[0] must be a finite number > 0"),
        ({"profit_alerts": [2**1024]}, "profit_alerts[0] must be a finite number > 0"),
        (
            {"loss_alerts": 5},
            "PositionMonitor loss_alerts must be a list of amounts (money, numbers > 0), got 5",
        ),
        ({"profit_alerts": None}, "profit_alerts must be a list of amounts"),
        ({"loss_alerts": "50"}, "loss_alerts must be a list of amounts"),
        ({"profit_alerts": {50: 1}}, "profit_alerts must be a list of amounts"),
    ],
)
async def test_bad_options_are_refused(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        with pytest.raises(TradebusError, match=re.escape(message)):
            PositionMonitor(node, **options)  # type: ignore[arg-type]


async def test_alert_levels_are_amounts_each_fired_once(tmp_path: Path) -> None:
    levels = [20, 20.0, 10**3]  # a level given twice: once
    async with monitored(tmp_path, loss_alerts=levels) as (node, monitor):
        await open_position(node, monitor, 1, volume=10.0)
        await quotes(node, monitor, (97.5, 97.6, 2_000))  # a loss of 25
        stats = monitor.statistics()
    assert [a[3].split(" at ")[0] for a in alerts(tmp_path)] == [
        "EURUSD #1 unrealized loss 25 reached 20"
    ]
    assert stats.pnl_alerts == 1
    assert rows(tmp_path / MAIN, "SELECT count(*) FROM monitor_marks") == [(1,)]


async def test_a_node_without_the_bots_database_cannot_run_it(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        with pytest.raises(AccessDenied, match="this node may not write 'main'"):
            async with PositionMonitor(node):
                pass


async def test_a_node_runs_it_as_one_of_its_services(tmp_path: Path) -> None:
    def simulating(node: Node) -> PositionMonitor:
        return PositionMonitor(node, mode="simulate")

    async with Node(tmp_path, services=[simulating]) as node:
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=1, symbol="EURUSD", direction="BUY", entry_price=100.0, volume=1.0,
            stop_loss=95.0, ts=1_000,
        )  # fmt: skip
        ts = 2_000
        with anyio.fail_after(20):
            # Ticks until the monitor, which subscribes once it saw the execution, closes it.
            while rows(node.path("main"), "SELECT status FROM trade_positions") != [("closed",)]:
                await node.bus.publish(Tick(symbol="EURUSD", bid=94.0, ask=94.1, ts=ts))
                ts += 1
                await anyio.sleep(0.02)
    assert position(tmp_path, 1) == ("closed", 95.0, None, 94.0, -6.0)
    assert [m[1] for m in monitoring(tmp_path)] == ["stop_loss_hit"]


async def test_an_execution_stamped_ahead_of_the_clock_is_watched_from_when_it_is_seen(
    tmp_path: Path,
) -> None:
    ahead = time.time_ns() + 3_600 * 10**9  # the broker's clock, an hour ahead
    async with monitored(tmp_path) as (node, monitor):
        await open_position(node, monitor, 1, stop_loss=95.0, ts=ahead)
        await quotes(node, monitor, (94.0, 94.1, time.time_ns()))
    assert [m[1] for m in monitoring(tmp_path)] == ["stop_loss_hit"]
