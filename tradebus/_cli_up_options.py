"""The options ``tradebus up`` passes on to its role processes: the services'
(``--candles``, ``--candle-price``, ``--monitor``, ``--contract-size``, ``--retain``)
to every process, the API server's (``--http``, ``--api-token-file``,
``--api-auth-reads``) to the ``api_server`` role's."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ._cli_http import DEFAULT_HOST, DEFAULT_PORT, http_arguments
from ._cli_services import service_arguments
from ._exceptions import TradebusError
from ._retention_args import retain_argument

__all__ = ["API_ROLE", "passed_on", "up_arguments"]

#: The role whose process serves the HTTP API.
API_ROLE = "api_server"


class _Refused(TradebusError):
    """An option ``tradebus up`` passes on is not one ``tradebus run`` takes."""


class _Checker(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def up_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options passed on to the role processes to ``tradebus up``'s parser."""
    parser.add_argument(
        "--candles",
        metavar="TF[,TF...]|none",
        help="the candle service's timeframes in the bot's process (as 'tradebus run')",
    )
    parser.add_argument(
        "--candle-price", metavar="PRICE", help="the price the candles chart: bid, ask, ..."
    )
    parser.add_argument(
        "--monitor",
        metavar="MODE",
        help="the position monitor: observe, simulate or off (default: observe; "
        "simulate with --demo)",
    )
    parser.add_argument(
        "--contract-size",
        dest="contract_sizes",
        action="append",
        default=[],
        metavar="[SYMBOL=]SIZE",
        help="units per lot of a symbol (SYMBOL=SIZE) or of every symbol not named "
        "(SIZE), for every process: the monitor's and the API's P&L (as 'tradebus run')",
    )
    parser.add_argument(
        "--retain",
        action="append",
        default=[],
        metavar="GROUP=AGE[,...]",
        help="a retention policy for every process (as 'tradebus run --retain')",
    )
    parser.add_argument(
        "--http",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT|none",
        help="where the api_server process serves the HTTP API (default: "
        f"{DEFAULT_HOST}:{DEFAULT_PORT}; none: no HTTP API)",
    )
    parser.add_argument(
        "--api-token-file",
        metavar="FILE",
        help="the bearer token of the HTTP API, from the first line of FILE (default: "
        "the TRADEBUS_API_TOKEN environment variable)",
    )
    parser.add_argument("--api-auth-reads", action="store_true", help="ask the token for reads too")


def passed_on(args: argparse.Namespace) -> tuple[list[str], dict[str, list[str]]]:
    """The options of every role process, and of the ``api_server``'s, from ``args``.

    :raises TradebusError: if one is not valid, saying which and why (checked here,
        as ``tradebus run`` will, so that no process is started with it).
    """
    common: list[str] = []
    for flag, value in (
        ("--candles", args.candles),
        ("--candle-price", args.candle_price),
        ("--monitor", args.monitor or ("simulate" if args.demo else None)),
    ):
        if value is not None:
            common += [flag, value]
    for item in args.contract_sizes:
        common += ["--contract-size", item]
    for item in args.retain:
        common += ["--retain", item]
    api: list[str] = []
    if args.http.strip().lower() != "none":
        api += ["--http", args.http]
        if args.api_token_file is not None:
            api += ["--api-token-file", args.api_token_file]
        if args.api_auth_reads:
            api.append("--api-auth-reads")
    checker = _Checker(prog="tradebus up", add_help=False)
    service_arguments(checker)
    retain_argument(checker)
    http_arguments(checker)
    try:
        checker.parse_args([*common, *api])
    except _Refused as exc:
        raise TradebusError(str(exc)) from None
    return common, {API_ROLE: api}
