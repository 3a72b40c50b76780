"""The position monitor's money: price distance x volume x the symbol's contract size,
in its simulated closes and its P&L alerts; 1.0 (price distance x volume) unless set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tradebus import ContractSizes, PositionMonitor, TradebusError, open_node

from ._monitor_scripts import (
    ANALYSIS,
    MAIN,
    alerts,
    dead_letters,
    monitored,
    open_position,
    position,
    quotes,
    rows,
)

EURUSD_LOT = {"EURUSD": 100_000.0}


async def test_a_simulated_close_of_a_tenth_of_a_lot_counts_the_contract_size(
    tmp_path: Path,
) -> None:
    async with (
        open_node(tmp_path, monitor=None, candles=(), contract_sizes=EURUSD_LOT) as node,
        PositionMonitor(node, mode="simulate") as monitor,  # the node's contract sizes
    ):
        rec = await node.integration("desktop_agent").log_trade_recommendation(
            symbol="EURUSD", direction="BUY", entry_price=1.1000, stop_loss=1.0950,
            take_profit=1.1050, confidence=70,
        )  # fmt: skip
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=1, symbol="EURUSD", direction="BUY", entry_price=1.1000, volume=0.1,
            stop_loss=1.0950, take_profit=1.1050, recommendation_id=rec, ts=1_000,
        )  # fmt: skip
        await monitor.caught_up()
        await quotes(node, monitor, (1.1040, 1.1042, 2_000), (1.1052, 1.1054, 2_001))
    # Closed at the bid 1.1052: 0.0052 x 0.1 lot x 100,000 units = 52 (quote currency).
    assert position(tmp_path, 1) == ("closed", 1.0950, 1.1050, 1.1052, pytest.approx(52.0))
    assert rows(tmp_path / ANALYSIS, "SELECT outcome, realized_pnl FROM trade_recommendations") == [
        ("win", pytest.approx(52.0))
    ]


async def test_a_loss_alert_in_money_fires_at_its_tick_with_the_contract_size(
    tmp_path: Path,
) -> None:
    options = {"loss_alerts": [100.0], "contract_sizes": EURUSD_LOT}
    async with monitored(tmp_path, **options) as (node, monitor):
        await open_position(node, monitor, 1, entry=1.1000, volume=0.1)
        # Losses of 50 and 95 (not 0.0005 and 0.00095: 1 unit per lot would never fire).
        await quotes(node, monitor, (1.0950, 1.0952, 2_000), (1.0905, 1.0907, 2_001))
        assert alerts(tmp_path) == []
        await quotes(node, monitor, (1.0895, 1.0897, 2_002))  # a loss of 105
        stats = monitor.statistics()
    [(ticket, alert_type, severity, message)] = alerts(tmp_path)
    assert (ticket, alert_type, severity, stats.pnl_alerts) == (1, "risk", "warning", 1)
    assert message.startswith("EURUSD #1 unrealized loss 105 reached 100 at 1.0895")


async def test_a_position_found_open_at_start_takes_its_symbols_contract_size(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=5, symbol="XAUUSD", direction="SELL", entry_price=2000.0, volume=0.5,
            stop_loss=2010.0, ts=1_000,
        )  # fmt: skip
    sizes = {"XAUUSD": 100.0, "*": 10.0}
    async with monitored(tmp_path, mode="simulate", contract_sizes=sizes) as (node, monitor):
        assert monitor.contract_sizes.size("XAUUSD") == 100.0
        await quotes(node, monitor, (2011.5, 2012.0, 2_000), symbol="XAUUSD")
    # Closed at the ask 2012: -12 x 0.5 lot x 100 oz = -600.
    assert position(tmp_path, 5) == ("closed", 2010.0, None, 2012.0, pytest.approx(-600.0))


async def test_without_contract_sizes_money_is_price_distance_times_volume(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path, mode="simulate", loss_alerts=[0.3]) as (node, monitor):
        assert node.contract_sizes == ContractSizes() == {}
        assert monitor.contract_sizes.size("EURUSD") == 1.0
        await open_position(node, monitor, 1, entry=1.1000, volume=0.1, stop_loss=1.0950)
        await quotes(node, monitor, (1.0980, 1.0982, 2_000), (1.0940, 1.0942, 2_001))
    # As before contract sizes: 0.006 x 0.1 = 0.0006, and no alert of 0.3 on the way.
    assert position(tmp_path, 1)[-1] == pytest.approx(-0.0006)
    assert [a[1] for a in alerts(tmp_path)] == ["risk"]  # the stop loss hit only


async def test_other_symbols_keep_the_default_contract_size(tmp_path: Path) -> None:
    options = {"mode": "simulate", "contract_sizes": {"GBPUSD": 100_000.0}}
    async with monitored(tmp_path, **options) as (node, monitor):
        await open_position(node, monitor, 1, entry=100.0, volume=2.0, take_profit=103.0)
        await quotes(node, monitor, (103.5, 103.6, 2_000))
    assert position(tmp_path, 1)[-1] == pytest.approx(7.0)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (
            {"EURUSD": 0},
            "PositionMonitor contract_sizes['EURUSD'] must be a number from 1e-9 to 1e9 "
            "(units per lot), got 0",
        ),
        ({"EURUSD": float("inf")}, "contract_sizes['EURUSD'] must be a number from 1e-9"),
        ({"EURUSD": float("nan")}, "contract_sizes['EURUSD'] must be a number from 1e-9"),
        ({"EURUSD": "100000"}, "got '100000'"),
        ({"EURUSD": True}, "got True"),
        (
            {"": 10.0},
            "a key must be a symbol (1-64 letters, digits or ._/-:=^#+@&$!, "
            "starting with a letter or digit, as in events) or '*' for every other symbol, "
            "got ''",
        ),
        ({"EUR USD": 10.0}, "got 'EUR USD'"),
        ([("EURUSD", 10.0)], "must be a mapping of symbol -> contract size"),
    ],
)
async def test_bad_contract_sizes_are_refused_naming_the_field_and_value(
    tmp_path: Path, sizes: object, message: str
) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        with pytest.raises(TradebusError, match=re.escape(message)):
            PositionMonitor(node, contract_sizes=sizes)  # type: ignore[arg-type]
    with pytest.raises(TradebusError, match=re.escape(message.removeprefix("PositionMonitor "))):
        open_node(tmp_path, contract_sizes=sizes)  # type: ignore[arg-type]


# A BUY of 1 lot of the largest contract allowed at 1e300, stopped out at 1e299: its
# P&L, -9e299 x 1 x 1e9, is beyond the range of a float.
HUGE = {"EURUSD": 1e9}
OVERFLOW = (
    "EURUSD #1 closed at 1e+299 without a realized P&L: (price - entry) x volume x "
    "contract size = (1e+299 - 1e+300) x 1 x 1000000000 is beyond the range of a float"
)


async def test_a_close_whose_pnl_overflows_is_stored_without_it_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = {"mode": "simulate", "contract_sizes": HUGE}
    async with monitored(tmp_path, **options) as (node, monitor):
        await open_position(node, monitor, 1, entry=1e300, stop_loss=5e299)
        await quotes(node, monitor, (1e299, 1.1e299, 2_000))
        # It carries on: the next position closes as any other.
        await open_position(node, monitor, 2, entry=1.1, stop_loss=1.0, ts=3_000)
        await quotes(node, monitor, (0.9, 0.91, 4_000))
        stats = monitor.statistics()
    assert position(tmp_path, 1) == ("closed", 5e299, None, 1e299, None)
    assert position(tmp_path, 2)[-1] == pytest.approx(-0.2 * 1e9)
    assert (stats.closes, stats.non_finite_pnl, stats.refused_events) == (2, 1, 0)
    assert (1, "system", "warning", OVERFLOW) in alerts(tmp_path)
    assert OVERFLOW in caplog.text
    assert dead_letters(tmp_path) == 0


async def test_a_marked_hit_whose_pnl_overflows_is_closed_at_the_next_start(
    tmp_path: Path,
) -> None:
    # Observed (marked, not closed), then simulated: the start closes the marked hit.
    options = {"contract_sizes": HUGE}
    async with monitored(tmp_path, mode="observe", **options) as (node, monitor):
        await open_position(node, monitor, 1, entry=1e300, stop_loss=5e299)
        await quotes(node, monitor, (1e299, 1.1e299, 2_000))
    assert position(tmp_path, 1)[0] == "open"
    for _ in range(2):  # and a second start finds nothing to do
        async with monitored(tmp_path, mode="simulate", **options) as (node, monitor):
            await monitor.caught_up()
            stats = monitor.statistics()
        assert position(tmp_path, 1) == ("closed", 5e299, None, 1e299, None)
    assert (stats.positions, stats.closes, stats.non_finite_pnl) == (0, 0, 0)
    assert [a for a in alerts(tmp_path) if a[1] == "system"] == [(1, "system", "warning", OVERFLOW)]


async def test_a_moved_stop_whose_unrealized_pnl_overflows_is_published_without_it(
    tmp_path: Path,
) -> None:
    options = {"mode": "simulate", "contract_sizes": HUGE}
    async with monitored(tmp_path, **options) as (node, monitor):
        await open_position(node, monitor, 1, entry=1e300, trailing_distance=1e299)
        await quotes(node, monitor, (1.5e300, 1.6e300, 2_000))
        assert position(tmp_path, 1)[:2] == ("modified", 1.4e300)
        await quotes(node, monitor, (1.3e300, 1.31e300, 3_000))  # the moved stop, hit
        stats = monitor.statistics()
    assert rows(
        tmp_path / MAIN,
        "SELECT stop_loss, unrealized_pnl FROM position_updates WHERE status = 'modified'",
    ) == [(1.4e300, None)]
    assert position(tmp_path, 1) == ("closed", 1.4e300, None, 1.3e300, None)
    assert (stats.trailing_moves, stats.stop_loss_hits, stats.closes) == (1, 1, 1)
    assert (stats.non_finite_pnl, stats.refused_events) == (2, 0)
