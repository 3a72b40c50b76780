"""The options of the services a role process runs: ``--candles``, ``--candle-price``."""

from __future__ import annotations

import argparse
from typing import Any

from ._candles_options import DEFAULT_TIMEFRAMES, PRICES, check_candle_options
from ._exceptions import TradebusError

__all__ = ["candle_arguments", "candle_options"]


def candle_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--candles TF,...|none`` and ``--candle-price P``."""
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


def candle_options(args: argparse.Namespace) -> dict[str, Any]:
    """``open_node``'s candle options from the parsed ``args``."""
    return {"candles": args.candles, "candle_price": args.candle_price}
