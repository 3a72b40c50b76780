"""``tradebus candles rebuild``: a symbol's candles again, from its stored ticks."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import anyio
from rich.console import Console

from schemas import TIMEFRAME_SECONDS, InvalidEvent, check_symbol

from ._candles_options import DEFAULT_TIMEFRAMES, PRICES, check_candle_options
from ._candles_rebuild import RebuildReport, rebuild_candles
from ._cli_args import data_dir_argument, more_than_zero
from ._cli_log import CliLog
from ._cli_run import print_error
from ._exceptions import TradebusError
from ._stats import check_data_dir

__all__ = ["add_parser", "run"]

EXIT_DIFFERS = 3


def add_parser(commands: Any) -> None:
    """Add ``candles`` (and its ``rebuild``) to the CLI's subcommands."""
    candles = commands.add_parser("candles", help="the candles built from the ticks")
    actions = candles.add_subparsers(dest="candles_command", metavar="ACTION", required=True)
    rebuild = actions.add_parser(
        "rebuild",
        help="rebuild a symbol's candles from its stored ticks; store those that differ",
        description=(
            "Rebuild SYMBOL's candles from the ticks stored in the bot's database and "
            "compare them with the stored ones: those that differ are stored again (a "
            "revision each), those missing are added. Works whether the bot's process "
            "runs (its relay stores them) or not (this command is then the writer)."
        ),
    )
    data_dir_argument(rebuild)
    rebuild.add_argument("--symbol", required=True, type=_symbol, help="the symbol")
    rebuild.add_argument(
        "--timeframe",
        action="append",
        choices=list(TIMEFRAME_SECONDS),
        metavar="TF",
        help=f"a timeframe (repeatable; default: {' '.join(DEFAULT_TIMEFRAMES)})",
    )
    rebuild.add_argument(
        "--since",
        type=_since,
        default=0,
        metavar="T",
        help="from this time on (UTC, ISO 8601 like 2024-05-01 or 2024-05-01T12:00, or ns "
        "since the epoch; moved back to the start of the longest timeframe's bar); "
        "default: every stored tick",
    )
    rebuild.add_argument(
        "--price",
        choices=PRICES,
        default="bid",
        help="the price the candles chart: as the node that builds them (default: bid)",
    )
    rebuild.add_argument(
        "--dry-run",
        action="store_true",
        help=f"compare only: store nothing; exit status {EXIT_DIFFERS} if a bar differs or is "
        "missing",
    )
    rebuild.add_argument(
        "--timeout",
        type=more_than_zero,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the bot's process to store them (default: 30)",
    )
    rebuild.set_defaults(handler=run)


def _symbol(text: str) -> str:
    try:
        check_symbol("candles", text)
    except InvalidEvent as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _since(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a UTC time in ISO 8601 (2024-05-01T12:00) or ns since the epoch, "
            f"got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1_000


def run(args: argparse.Namespace, console: Console) -> int:
    """``tradebus candles rebuild``: return the exit status."""
    with CliLog() as log:
        try:
            check_data_dir(args.data_dir, must_exist=True)
            timeframes, price = check_candle_options(
                args.timeframe or DEFAULT_TIMEFRAMES, args.price
            )
            report = anyio.run(
                lambda: rebuild_candles(
                    args.data_dir, args.symbol, timeframes, price=price, since=args.since,
                    dry_run=args.dry_run, delivery_timeout=args.timeout,
                )
            )  # fmt: skip
        except (TradebusError, OSError) as exc:
            log.finish(exc)
            print_error(str(exc))
            return 1
        except KeyboardInterrupt:
            log.finish(None)
            print_error("interrupted: nothing was stored unless it said so")
            return 130
    _print(console, args, report)
    differs = any(sum(counts.values()) for counts in (report.changed, report.added))
    if args.dry_run:
        return EXIT_DIFFERS if differs else 0
    if report.via == "outbox" and not report.delivered:
        print_error(
            f"the bot's process has not stored the rebuilt candles within {args.timeout:g}s: "
            "they wait in this command's outbox, and its relay stores them when it runs"
        )
        return 1
    return 0


def _print(console: Console, args: argparse.Namespace, report: RebuildReport) -> None:
    console.print(
        f"tradebus candles rebuild {args.symbol}: {report.ticks:,} stored ticks read",
        style="bold",
        highlight=False,
    )
    for tf in report.agreed:
        parts = [
            f"{getattr(report, name)[tf]:,} {label}"
            for name, label in (
                ("agreed", "agree"), ("changed", "changed"), ("added", "added"),
                ("completed", "completed"), ("kept", "kept"), ("in_progress", "in progress"),
            )
            if getattr(report, name)[tf] or name == "agreed"
        ]  # fmt: skip
        console.print(f"  {tf}: {', '.join(parts)}", highlight=False)
    if args.dry_run:
        console.print("dry run: nothing was stored", highlight=False)
    elif report.via == "writer":
        console.print("stored (this command was the database's writer)", highlight=False)
    elif report.via == "outbox" and report.delivered:
        console.print(
            "stored by the bot's process (through this command's outbox)", highlight=False
        )
    elif not report.via:
        console.print("nothing to store: the stored candles agree", highlight=False)
