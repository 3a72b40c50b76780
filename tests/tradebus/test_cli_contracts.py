"""``--contract-size [SYMBOL=]SIZE``: read by ``tradebus run``/``serve``/``demo``/
``journal``, passed on by ``tradebus up``; a bad one is a usage error naming it."""

from __future__ import annotations

import argparse

import pytest

from tradebus import TradebusError
from tradebus._cli import _parser
from tradebus._cli_contracts import contract_sizes_of, parse_contract_size
from tradebus._cli_services import service_options
from tradebus._cli_up_options import passed_on


def test_a_contract_size_is_a_symbol_s_or_every_other_symbol_s() -> None:
    assert parse_contract_size("EURUSD=100000") == ("EURUSD", 100_000.0)
    assert parse_contract_size("XAUUSD=1e2") == ("XAUUSD", 100.0)
    assert parse_contract_size("100000") == ("*", 100_000.0)
    assert parse_contract_size("*=0.5") == ("*", 0.5)
    assert parse_contract_size("ES=F=50") == ("ES=F", 50.0)  # a symbol may hold "="
    assert parse_contract_size("EURUSD=1e9") == ("EURUSD", 1e9)  # the bounds: allowed
    assert parse_contract_size("1e-9") == ("*", 1e-9)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("EURUSD=lots", "'EURUSD=lots': the contract size must be a number from 1e-9 to "
         "1e9 (units per lot, e.g. EURUSD=100000, or 100000 for every symbol not named), "
         "got 'lots'"),
        ("EURUSD=0", "got '0'"),
        ("EURUSD=-100000", "got '-100000'"),
        ("EURUSD=inf", "got 'inf'"),
        ("EURUSD=nan", "got 'nan'"),
        ("EURUSD=", "got ''"),
        ("=100000", "'=100000': the symbol before '=' is empty"),
        ("EUR USD=10", "'EUR USD=10': a key must be a symbol (1-64 letters, digits or "
         "._/-:=^#+@&$!, starting with a letter or digit, as in events) or '*' for every "
         "other symbol, got 'EUR USD'"),
        ("EURUSD=1e10", "got '1e10'"),
        ("EURUSD=1e-10", "got '1e-10'"),
        ("EURUSD=5=6", "'EURUSD=5=6': two sizes? give one SYMBOL=SIZE, e.g. EURUSD=100000 "
         "(a symbol may hold '=' and letters, as ES=F does, but not '=' and a number)"),
        ("EUR\x00USD=5", "got 'EUR\\x00USD'"),
        ("EUR*=5", "got 'EUR*'"),
    ],
)  # fmt: skip
def test_a_bad_contract_size_says_what_is_allowed(text: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse_contract_size(text)
    assert said in str(caught.value)


def test_run_gives_the_node_its_contract_sizes() -> None:
    parser = _parser()
    args = parser.parse_args(
        ["run", "--role", "chatgpt_bot", "--contract-size", "EURUSD=100000",
         "--contract-size", "XAUUSD=100", "--contract-size", "10",
         "--contract-size", "EURUSD=10000"]
    )  # fmt: skip
    assert service_options(args)["contract_sizes"] == {
        "EURUSD": 10_000.0,  # given twice: the last one
        "XAUUSD": 100.0,
        "*": 10.0,
    }
    default = parser.parse_args(["run", "--role", "chatgpt_bot"])
    assert service_options(default)["contract_sizes"] is None
    for command in (["serve"], ["demo"], ["journal", "7"]):
        args = parser.parse_args([*command, "--contract-size", "EURUSD=100000"])
        assert contract_sizes_of(args) == {"EURUSD": 100_000.0}, command


def test_a_bad_contract_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["run", "--role", "chatgpt_bot", "--contract-size", "EURUSD=0"])
    assert caught.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "tradebus: error: argument --contract-size: 'EURUSD=0': the contract size must be "
        "a number from 1e-9 to 1e9" in err
    ), err
    with pytest.raises(SystemExit):
        _parser().parse_args(["journal", "7", "--contract-size", "EUR*=10"])
    err = " ".join(capsys.readouterr().err.split())
    assert "argument --contract-size: 'EUR*=10': a key must be a symbol" in err, err
    assert err.count("--contract-size") == 1, err  # the flag, said once


def test_up_passes_the_contract_sizes_on_to_every_process_and_checks_them() -> None:
    parser = _parser()
    args = parser.parse_args(
        ["up", "--contract-size", "EURUSD=100000", "--contract-size", "100"]
    )  # fmt: skip
    common, _ = passed_on(args)
    assert common[common.index("--contract-size") :][:4] == [
        "--contract-size", "EURUSD=100000", "--contract-size", "100"
    ]  # fmt: skip
    bad = parser.parse_args(["up", "--contract-size", "EURUSD=-1"])
    with pytest.raises(TradebusError, match="'EURUSD=-1': the contract size must be"):
        passed_on(bad)
