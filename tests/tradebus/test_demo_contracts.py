"""``tradebus demo`` with contract sizes: its lots, its P&L and its monitor's agree."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from tradebus._demo import DemoConfig, run_demo
from tradebus._signals import StopSignals


async def test_the_demo_trades_fewer_lots_of_a_bigger_contract_and_counts_it(
    tmp_path: Path,
) -> None:
    config = DemoConfig(
        data_dir=tmp_path, seconds=8.0, symbols=("EURUSD",), rate=2_000.0, seed=7,
        contract_sizes={"EURUSD": 100_000.0},
    )  # fmt: skip
    result = await run_demo(config, Console(file=io.StringIO()), StopSignals())
    assert result.opened > 0
    with sqlite3.connect(tmp_path / "unified_tick_pipeline.db") as conn:
        volumes = {v for (v,) in conn.execute("SELECT volume FROM trade_executions")}
        closed = conn.execute(
            "SELECT direction, entry_price, volume, close_price, realized_pnl "
            "FROM trade_positions WHERE status = 'closed'"
        ).fetchall()
        updates = conn.execute(
            "SELECT p.direction, p.entry_price, p.volume, u.current_price, u.unrealized_pnl "
            "FROM position_updates u JOIN trade_positions p ON p.ticket = u.ticket "
            "WHERE u.unrealized_pnl IS NOT NULL"
        ).fetchall()
    # 1,000 units (0.01 lot of 100,000): the P&L stays in the default run's range.
    assert volumes == {0.01}
    assert closed + updates, "no P&L figure in 8 s"
    # Whoever closed or updated it (the monitor at a stop or target, the strategy at
    # market): price distance x 0.01 lot x 100,000.
    for direction, entry, volume, price, pnl in closed + updates:
        sign = 1.0 if direction == "BUY" else -1.0
        assert pnl == pytest.approx((price - entry) * sign * volume * 100_000, abs=1e-5)
