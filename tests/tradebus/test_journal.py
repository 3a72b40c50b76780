"""The trade journal: a trade's life across the three databases, and its figures."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import (
    Direction,
    PositionUpdate,
    RecommendationUpdate,
    Tick,
    TradeAlert,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from tradebus import Node, PositionMonitor, TradebusError, open_node
from tradebus._journal import JournalError, closed_trades, journal

S = 1_000_000_000
T0 = (int(time.time()) - 3600) * S


async def _lifecycle(node: Node, ticket: int, direction: Direction, t0: int) -> None:
    """A recommended, executed, monitored, alerted and closed trade, in that order."""
    buy = direction == "BUY"
    entry = 1.1000
    stop, target = (1.0950, 1.1100) if buy else (1.1050, 1.0900)
    rec_id = f"rec-{ticket}"
    events = [
        TradeRecommendation(
            recommendation_id=rec_id, symbol="EURUSD", direction=direction, entry_price=entry,
            stop_loss=stop, take_profit=target, confidence=80, ts=t0,
        ),
        TradeExecution(
            ticket=ticket, symbol="EURUSD", direction=direction, entry_price=entry, volume=1.0,
            stop_loss=stop, take_profit=target, recommendation_id=rec_id, ts=t0 + 1 * S,
        ),
        RecommendationUpdate(
            recommendation_id=rec_id, status="executed", ticket=ticket, ts=t0 + 1 * S
        ),
        TradeMonitoring(
            ticket=ticket, symbol="EURUSD", monitoring_type="breakeven", status="moved",
            details="stop to entry", ts=t0 + 4 * S,
        ),
        PositionUpdate(
            ticket=ticket, symbol="EURUSD", status="modified", current_price=1.1050 if buy
            else 1.0950, stop_loss=entry, ts=t0 + 4 * S + 1,
        ),
        TradeAlert(
            alert_type="profit", severity="info", message="half way", ticket=ticket,
            symbol="EURUSD", ts=t0 + 5 * S,
        ),
        PositionUpdate(
            ticket=ticket, symbol="EURUSD", status="closed", current_price=1.1040 if buy
            else 1.0960, close_price=1.1040 if buy else 1.0960, realized_pnl=40.0,
            ts=t0 + 7 * S,
        ),
        RecommendationUpdate(
            recommendation_id=rec_id, status="closed", ticket=ticket, outcome="win",
            realized_pnl=40.0, ts=t0 + 7 * S,
        ),
    ]  # fmt: skip
    for event in events:
        await node.bus.publish(event, wait=True)


def _ticks(t0: int) -> list[Tick]:
    """Bids around the trade's life: one before it opens and one after it closes (both
    far out, so that counting them would show), four inside."""
    bids = [(0, 1.0800), (2, 1.0960), (3, 1.1080), (6, 1.1040), (7, 1.1000), (9, 1.2000)]
    return [
        Tick(symbol="EURUSD", bid=bid, ask=round(bid + 0.0002, 5), ts=t0 + at * S)
        for at, bid in bids
    ]


async def _store(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    async with open_node(data) as node:
        for tick in _ticks(T0):
            node.bus.publish_nowait(tick)
        await _lifecycle(node, 7, "BUY", T0)
        await _lifecycle(node, 8, "SELL", T0)
        # A trade without a stop and without ticks in its time.
        await node.bus.publish(
            TradeExecution(ticket=9, symbol="GBPUSD", direction="BUY", entry_price=1.25,
                           volume=1.0, ts=T0 + 100 * S), wait=True,
        )  # fmt: skip
        await node.bus.publish(
            PositionUpdate(ticket=9, symbol="GBPUSD", status="closed", current_price=1.26,
                           close_price=1.26, realized_pnl=10.0, ts=T0 + 200 * S), wait=True,
        )  # fmt: skip
        await node.bus.flush()
    return data


async def test_the_journal_of_a_full_lifecycle_in_time_order_with_its_figures(
    tmp_path: Path,
) -> None:
    data = await _store(tmp_path)
    buy = await journal(data, 7)
    assert [(e.database, e.table, e.kind) for e in buy.entries] == [
        ("analysis", "trade_recommendations", "recommendation"),
        ("main", "trade_executions", "execution"),
        ("analysis", "recommendation_updates", "recommendation update"),
        ("logs", "trade_monitoring", "monitoring"),
        ("main", "position_updates", "position update"),
        ("logs", "trade_alerts", "alert"),
        ("main", "position_updates", "close"),
        ("analysis", "recommendation_updates", "outcome"),
    ]
    assert [e.ts for e in buy.entries] == sorted(e.ts for e in buy.entries)
    s = buy.summary
    assert (s.status, s.direction, s.duration_seconds, s.pnl, s.outcome) == (
        "closed", "BUY", 6.0, 40.0, "win"
    )  # fmt: skip
    assert s.initial_stop == 1.0950
    assert s.r_multiple == pytest.approx((1.1040 - 1.1) / 0.005)
    # Bids from the execution (t0+1s) to the close (t0+7s): 1.0960, 1.1080, 1.1040, 1.1000.
    assert s.ticks == 4
    assert s.mfe == pytest.approx(0.0080)
    assert s.mae == pytest.approx(0.0040)
    assert s.mfe_r == pytest.approx(1.6)
    assert s.mae_r == pytest.approx(0.8)

    sell = (await journal(data, 8)).summary
    # A SELL closes on the ask: 1.0962, 1.1082, 1.1042, 1.1002 against an entry of 1.1.
    assert sell.r_multiple == pytest.approx((1.1 - 1.0960) / 0.005)
    assert sell.mfe == pytest.approx(1.1 - 1.0962)
    assert sell.mae == pytest.approx(1.1082 - 1.1)

    bare = (await journal(data, 9)).summary
    assert (bare.r_multiple, bare.mae, bare.mfe, bare.ticks) == (None, None, None, 0)
    assert (bare.pnl, bare.outcome, bare.duration_seconds) == (10.0, "win", 100.0)


async def test_closed_trades_since_a_time_and_of_a_symbol(tmp_path: Path) -> None:
    data = await _store(tmp_path)
    assert [s.ticket for s in await closed_trades(data)] == [7, 8, 9]
    assert [s.ticket for s in await closed_trades(data, since=T0 + 8 * S)] == [9]
    assert [s.ticket for s in await closed_trades(data, symbol="EURUSD")] == [7, 8]


async def test_the_journal_reads_while_the_writers_run_and_refuses_an_unknown_ticket(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path / "data") as node:
        await _lifecycle(node, 11, "BUY", T0)
        # Read through the running node's files while its writers hold them.
        assert (await journal(node, 11)).summary.status == "closed"
        with pytest.raises(JournalError, match="no trade with ticket 12"):
            await journal(node, 12)
        # An open trade: figures so far (no close, so no duration, no R).
        await node.bus.publish(
            TradeExecution(ticket=13, symbol="XAUUSD", direction="SELL", entry_price=2000.0,
                           volume=1.0, stop_loss=2010.0, ts=T0), wait=True,
        )  # fmt: skip
        for at, ask in ((1, 1995.0), (2, 2004.0)):
            node.bus.publish_nowait(Tick(symbol="XAUUSD", bid=ask - 0.5, ask=ask, ts=T0 + at * S))
        await node.bus.publish(
            PositionUpdate(ticket=13, symbol="XAUUSD", status="modified", current_price=2004.0,
                           unrealized_pnl=-4.0, ts=T0 + 2 * S), wait=True,
        )  # fmt: skip
        opened = (await journal(node, 13)).summary
        assert (opened.status, opened.duration_seconds, opened.r_multiple) == ("open", None, None)
        assert (opened.pnl, opened.unrealized_pnl) == (None, -4.0)
        assert (opened.mfe, opened.mae, opened.ticks) == (5.0, 4.0, 2)
        assert opened.mae_r == pytest.approx(0.4)


async def test_the_journal_s_money_figures_use_the_contract_size(tmp_path: Path) -> None:
    data = await _store(tmp_path)
    lot = {"EURUSD": 100_000.0}
    s = (await journal(data, 7, contract_sizes=lot)).summary
    # 1 lot of EURUSD, exit 1.1040 from 1.1000: 0.004 x 1 x 100,000.
    assert s.contract_size == 100_000.0
    assert s.computed_pnl == pytest.approx(400.0)
    assert s.mae_money == pytest.approx(400.0)
    assert s.mfe_money == pytest.approx(800.0)
    # What was stored stays as stored; price distances and R are unit-free.
    assert s.pnl == 40.0
    assert s.mae == pytest.approx(0.004)
    assert s.r_multiple == pytest.approx(0.8)
    listed = await closed_trades(data, contract_sizes={**lot, "*": 10.0})
    assert [(t.ticket, t.contract_size) for t in listed] == [
        (7, 100_000.0), (8, 100_000.0), (9, 10.0)
    ]  # fmt: skip
    assert listed[1].computed_pnl == pytest.approx((1.1 - 1.0960) * 100_000)
    assert listed[2].computed_pnl == pytest.approx((1.26 - 1.25) * 10)
    assert listed[2].mae_money is None  # no ticks: no excursion
    async with open_node(data, contract_sizes=lot) as node:  # node.journal: the node's
        assert (await node.journal(7)).summary.computed_pnl == pytest.approx(400.0)
        override = await node.journal(7, contract_sizes={"EURUSD": 1_000})
        assert override.summary.computed_pnl == pytest.approx(4.0)


async def test_the_journal_s_money_uses_the_volume_closed_and_the_volume_held(
    tmp_path: Path,
) -> None:
    # A SELL of 3 lots (10 units each), cut to 1.5 lots, then closed by the monitor.
    data, sizes = tmp_path / "data", {"*": 10.0}
    async with (
        open_node(data, monitor=None, candles=(), contract_sizes=sizes) as node,
        PositionMonitor(node, mode="simulate") as monitor,
    ):
        await node.integration("chatgpt_bot").log_trade_execution(
            ticket=3, symbol="GBPUSD", direction="SELL", entry_price=1.25, volume=3.0,
            stop_loss=1.26, take_profit=1.24, ts=T0,
        )  # fmt: skip

        async def asks(*path: tuple[int, float]) -> None:
            for at, ask in path:
                tick = Tick(symbol="GBPUSD", bid=ask - 0.0002, ask=ask, ts=T0 + at * S)
                await node.bus.publish(tick)
                await monitor.caught_up()

        await asks((1, 1.2520), (2, 1.2480))  # against and for it by 0.002, at 3 lots
        cut = PositionUpdate(
            ticket=3, symbol="GBPUSD", status="modified", current_price=1.25, volume=1.5,
            ts=T0 + 3 * S,
        )  # fmt: skip
        await node.bus.publish(cut, wait=True)
        await monitor.caught_up()
        await asks((4, 1.2530), (5, 1.2398))  # against it by 0.003, then its target
    s = (await journal(data, 3, contract_sizes=sizes)).summary
    # Closed at the ask 1.2398: 0.0102 x 1.5 lots (not 3) x 10 units, as the monitor.
    assert s.pnl == pytest.approx(0.0102 * 1.5 * 10)
    assert s.computed_pnl == pytest.approx(s.pnl)
    assert s.volume == 1.5
    # Price excursions over the whole trade; money at the volume held at each tick:
    # the worst, 0.002 x 3 lots (0.06), before the cut; the best, at the close.
    assert s.mae == pytest.approx(0.003)
    assert s.mfe == pytest.approx(0.0102)
    assert s.ticks == 4
    assert s.mae_money == pytest.approx(0.002 * 3 * 10)
    assert s.mfe_money == pytest.approx(0.0102 * 1.5 * 10)


async def test_without_contract_sizes_the_journal_s_money_is_price_distance_times_volume(
    tmp_path: Path,
) -> None:
    data = await _store(tmp_path)
    s = (await journal(data, 7)).summary
    assert s.contract_size == 1.0
    assert s.computed_pnl == pytest.approx(0.004)
    assert s.mae_money == pytest.approx(0.004)
    assert s.mfe_money == pytest.approx(0.008)
    assert s.pnl == 40.0
    async with open_node(data) as node:
        opened = await node.journal(7)
    assert opened.summary.computed_pnl == pytest.approx(0.004)
    with pytest.raises(TradebusError, match=re.escape("contract_sizes['EURUSD'] must be")):
        await journal(data, 7, contract_sizes={"EURUSD": -1.0})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradebus", "journal", *args],
        capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


async def test_the_journal_command_prints_table_json_and_csv(tmp_path: Path) -> None:
    data = await _store(tmp_path)
    table = _cli("7", "--data-dir", str(data))
    assert table.returncode == 0, table.stderr
    assert "main.trade_executions" in table.stdout
    assert "R +0.80" in table.stdout
    assert "MAE 0.004" in table.stdout
    as_json = json.loads(_cli("7", "--format", "json", "--data-dir", str(data)).stdout)
    assert as_json["summary"]["ticks"] == 4
    assert len(as_json["entries"]) == 8
    listed = _cli("--since", "1970-01-01", "--symbol", "EURUSD", "--format", "csv",
                  "--data-dir", str(data))  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["ticket"], r["direction"], r["outcome"]) for r in rows] == [
        ("7", "BUY", "win"), ("8", "SELL", "win")
    ]  # fmt: skip
    missing = _cli("12", "--data-dir", str(data))
    assert missing.returncode == 1
    assert "no trade with ticket 12" in missing.stderr
    neither = _cli("--data-dir", str(data))
    assert neither.returncode == 2


async def test_the_journal_command_takes_contract_sizes(tmp_path: Path) -> None:
    data = await _store(tmp_path)
    table = _cli("7", "--contract-size", "EURUSD=100000", "--data-dir", str(data))
    assert table.returncode == 0, table.stderr
    assert "P&L +40 (win); P&L from prices +400 (contract size 100000)" in table.stdout
    assert "MAE 0.004 / MFE 0.008 (0.80R / 1.60R), in money 400 / 800 over 4 ticks" in (
        table.stdout
    )
    listed = _cli("--since", "1970-01-01", "--contract-size", "EURUSD=100000",
                  "--contract-size", "10", "--format", "csv", "--data-dir", str(data))  # fmt: skip
    got = [(r["ticket"], r["contract_size"]) for r in csv.DictReader(io.StringIO(listed.stdout))]
    assert got == [("7", "100000.0"), ("8", "100000.0"), ("9", "10.0")]
    bad = _cli("7", "--contract-size", "EURUSD=lots", "--data-dir", str(data))
    assert bad.returncode == 2
    assert (
        "argument --contract-size: 'EURUSD=lots': the contract size must be a number from 1e-9"
        in " ".join(bad.stderr.split())
    ), bad.stderr


async def test_a_ticket_or_time_beyond_what_the_databases_hold_is_a_bad_argument(
    tmp_path: Path,
) -> None:
    data = await _store(tmp_path)
    for args, said in [
        (["99999999999999999999999"], "ticket 99999999999999999999999 is out of range"),
        (["0"], "ticket 0 is out of range"),
        (["--since", "99999999999999999999999"], "time '99999999999999999999999' is out of"),
        (["--since", "9999-12-31"], "time '9999-12-31' is out of range"),
        (["--since", "2262-05-01"], "time '2262-05-01' is out of range"),
        (["--since", "1960-01-01"], "time '1960-01-01' is out of range"),
    ]:
        done = _cli(*args, "--data-dir", str(data))
        assert done.returncode == 2, (args, done.stderr)
        assert said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert "1970-01-01" in done.stderr or "from 1 to 9223372036854775807" in done.stderr
    latest = _cli("--since", "2262-04-11T23:47:16", "--data-dir", str(data))
    assert latest.returncode == 0, latest.stderr
