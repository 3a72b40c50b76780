"""The options of the services a role process runs: ``--candles``, ``--candle-price``,
``--monitor``, ``--contract-size``."""

from __future__ import annotations

import argparse
from typing import Any

from ._candles_options import DEFAULT_TIMEFRAMES, PRICES, check_candle_options
from ._cli_contracts import contract_size_argument, contract_sizes_of
from ._exceptions import TradebusError

__all__ = ["service_arguments", "service_options"]


def service_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--candles TF,...|none``, ``--candle-price P``, ``--monitor MODE`` and
    ``--contract-size [SYMBOL=]SIZE``."""
    parser.add_argument(
        "--candles",
        type=_timeframes,
        default=DEFAULT_TIMEFRAMES,
        metavar="TF[,TF...]|none",
        help=(
            "the timeframes the candle service builds from the ticks, where the bot's "
            f"database is hosted (default: {','.join(DEFAULT_TIMEFRAMES)}; none: no candles)"
        ),
    )
    parser.add_argument(
        "--candle-price",
        choices=PRICES,
        default="bid",
        help="the price the candles chart (default: bid)",
    )
    parser.add_argument(
        "--monitor",
        choices=("observe", "simulate", "off"),
        default="observe",
        help=(
            "the position monitor, where the bot's database is hosted: observe (report "
            "stop loss and take profit hits; the broker closes), simulate (also close "
            "the position at the tick's price: paper trading), or off (default: observe)"
        ),
    )
    contract_size_argument(parser)


def _timeframes(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "none":
        return ()
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    if not chosen:
        raise argparse.ArgumentTypeError("give timeframes such as M1,M5,H1, or none")
    try:
        check_candle_options(chosen)
    except TradebusError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return chosen


def service_options(args: argparse.Namespace) -> dict[str, Any]:
    """``open_node``'s service options from the parsed ``args``."""
    monitor = None if args.monitor == "off" else args.monitor
    return {
        "candles": args.candles,
        "candle_price": args.candle_price,
        "monitor": monitor,
        "contract_sizes": contract_sizes_of(args),
    }
