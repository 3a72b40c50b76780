"""The P&L the API computes (an open position's unrealized P&L, the journal's money
figures) with the contract sizes the server is given; what the bot reported as is."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._read_data import bid, tick, write_data
from ._server import serve

API = "/api/v1"


async def test_the_api_s_pnl_counts_the_contract_sizes_it_is_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await write_data(data_dir)
    sizes = ("--contract-size", "EURUSD=100000", "--contract-size", "10")
    async with serve(data_dir, *sizes) as server, server.client() as client:
        positions = (await client.get(f"{API}/positions", params={"state": "all"})).json()
        journal = (await client.get(f"{API}/journal/103")).json()["summary"]
    by_ticket = {p["ticket"]: p for p in positions["items"]}
    buy, sell, closed = by_ticket[101], by_ticket[104], by_ticket[103]
    assert buy["contract_size"] == 100_000.0
    assert buy["unrealized_pnl"] == pytest.approx((bid(249) - 1.1) * 2.0 * 100_000)
    assert sell["contract_size"] == 10.0  # GBPUSD: every symbol not named
    assert sell["unrealized_pnl"] == pytest.approx((1.2 - tick(2, "GBPUSD").ask) * 3.0 * 10)
    assert closed["realized_pnl"] == 10.0  # as the bot reported it
    # The journal of the GBPUSD trade: 1 lot from 1.25 to 1.26, 10 units a lot.
    assert (journal["pnl"], journal["contract_size"]) == (10.0, 10.0)
    assert journal["computed_pnl"] == pytest.approx(0.1)
