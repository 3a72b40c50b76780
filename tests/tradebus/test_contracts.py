"""Contract sizes: units per lot by symbol, ``"*"`` for every other symbol."""

from __future__ import annotations

import math
import re

import pytest

from tradebus import DEFAULT_CONTRACT, ContractSizes, TradebusError
from tradebus._contracts import MAX_CONTRACT_SIZE, MIN_CONTRACT_SIZE


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


def test_a_contract_size_is_in_a_range_that_keeps_money_finite() -> None:
    assert (MIN_CONTRACT_SIZE, MAX_CONTRACT_SIZE) == (1e-9, 1e9)
    sizes = ContractSizes({"A": MIN_CONTRACT_SIZE, "B": MAX_CONTRACT_SIZE, "C": 10**9})
    assert (sizes.size("A"), sizes.size("B"), sizes.size("C")) == (1e-9, 1e9, 1e9)
    rule = "must be a number from 1e-9 to 1e9 (units per lot), got "
    for size, shown in [
        (1e308, "1e+308"),
        (1e9 * (1 + 1e-15), repr(1e9 * (1 + 1e-15))),
        (5e-324, "5e-324"),
        (10**10, "10000000000"),
        (2**63, "9223372036854775808"),
        (math.nan, "nan"),
        (True, "True"),
    ]:
        with pytest.raises(TradebusError, match=re.escape(f"contract_sizes['X'] {rule}{shown}")):
            ContractSizes({"X": size})


def test_an_int_too_large_for_a_float_is_refused_as_out_of_range_not_overflow() -> None:
    with pytest.raises(TradebusError) as caught:
        ContractSizes({"X": 10**400})
    message = str(caught.value)
    assert message.startswith("contract_sizes['X'] must be a number from 1e-9 to 1e9"), message
    assert len(message) < 200, message  # the 401 digits shortened


@pytest.mark.parametrize(
    "key", ["EUR\x00USD", "EUR\u200bUSD", "EUR\nUSD", "\ufeffEURUSD", "**", "EUR*", "*EURUSD",
            "EUR USD", "", "€USD", "A" * 65, 7],
)  # fmt: skip
def test_a_key_no_symbol_can_be_is_refused(key: object) -> None:
    with pytest.raises(TradebusError) as caught:
        ContractSizes({key: 2.0})  # type: ignore[dict-item]
    assert str(caught.value) == (
        "contract_sizes: a key must be a symbol (1-64 letters, digits or ._/-:=^#+@&$!, "
        "starting with a letter or digit, as in events) or '*' for every other symbol, "
        f"got {key!r}"
    )


def test_keys_symbols_can_be_are_taken() -> None:
    keys = ["*", "EURUSD.m", "BTC/USDT", "ES=F", "^GSPC", "6E#", "eurusd"]
    assert list(ContractSizes(dict.fromkeys(keys, 2.0))) == keys
