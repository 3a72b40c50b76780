"""Contract sizes: units per lot by symbol, ``"*"`` for every other symbol."""

from __future__ import annotations

import pytest

from tradebus import DEFAULT_CONTRACT, ContractSizes


def test_a_symbol_takes_its_size_and_every_other_one_the_default() -> None:
    sizes = ContractSizes({"EURUSD": 100_000, "XAUUSD": 100.0, DEFAULT_CONTRACT: 10})
    assert (sizes.size("EURUSD"), sizes.size("XAUUSD"), sizes.size("BTCUSDT")) == (
        100_000.0, 100.0, 10.0
    )  # fmt: skip
    assert sizes.money("EURUSD", 0.0052, 0.1) == pytest.approx(52.0)
    assert dict(sizes) == {"EURUSD": 100_000.0, "XAUUSD": 100.0, "*": 10.0}
    assert ContractSizes(sizes) == sizes  # a ContractSizes is a mapping of them too


def test_without_sizes_money_is_price_distance_times_volume() -> None:
    sizes = ContractSizes()
    assert sizes.size("EURUSD") == 1.0
    assert sizes.money("EURUSD", 0.0052, 0.1) == 0.0052 * 0.1
    assert ContractSizes({"GBPUSD": 100_000}).size("EURUSD") == 1.0
