"""``tradebus import ticks FILE --symbol S``: load historical ticks."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any, Protocol

import anyio
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from schemas import format_ts

from ._cli_args import data_dir_argument
from ._cli_run import print_error
from ._exceptions import TradebusError
from ._import import ImportResult, import_ticks
from ._import_formats import FORMATS

__all__ = ["add_parser", "run"]

#: The exit status of an import that found bad rows (skipped, or refused with stop).
EXIT_BAD_ROWS = 3
#: How many bad rows are printed (all are counted).
SHOWN_ERRORS = 20


class _Commands(Protocol):
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_parser(commands: _Commands) -> None:
    """Add ``import ticks`` to the CLI's commands."""
    parent = commands.add_parser("import", help="load historical data (see 'import ticks')")
    kinds = parent.add_subparsers(dest="what", metavar="WHAT", required=True)
    ticks = kinds.add_parser(
        "ticks",
        help="load a file of historical ticks into the bot's database",
        description=(
            "Load historical ticks from a plain CSV with a header (ts or time, bid, ask, "
            "last, volume), HistData ASCII ticks (EST without daylight saving), TrueFX CSV "
            "(UTC) or a MetaTrader 5 tick export (server time: give --tz). Importing the "
            "same file again does nothing; an interrupted import resumes where its last "
            f"committed chunk ended. Exit status (the worst of the files): 0 imported, "
            f"{EXIT_BAD_ROWS} when bad rows were skipped (or, with --on-error stop, found: "
            "nothing imported), 1 on an error."
        ),
    )
    ticks.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="the file(s) to import, one after the other (each its own import)",
    )
    ticks.add_argument("--symbol", required=True, help="the symbol the ticks are of")
    ticks.add_argument(
        "--format",
        choices=("auto", *FORMATS),
        default="auto",
        help="the file's format (default: auto, told from its first line)",
    )
    ticks.add_argument(
        "--tz",
        default=None,
        metavar="ZONE",
        help="the zone of the file's times: UTC, an offset such as +02:00, or an IANA name "
        "(default: the format's own: UTC; HistData -05:00; MT5 exports are in the broker's "
        "server time, UTC unless given)",
    )
    ticks.add_argument(
        "--on-error",
        choices=("skip", "stop"),
        default="skip",
        help="a bad row: skip it (counted and reported; the default), or stop: check the "
        "whole file first and import nothing if a row is bad",
    )
    data_dir_argument(ticks)
    ticks.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Import each of ``args.files`` in turn; return the worst exit status."""
    worst = 0
    for path in args.files:
        try:
            result = _import_one(args, path)
        except (TradebusError, OSError) as exc:
            print_error(str(exc))
            worst = 1
            continue
        except KeyboardInterrupt:
            print_error(
                f"interrupted: what {path} had committed so far is kept; run the same "
                "import again to resume after it"
            )
            return 128 + signal.SIGINT
        _report(result, console)
        if result.skipped and worst == 0:
            worst = EXIT_BAD_ROWS
    return worst


def _import_one(args: argparse.Namespace, path: Path) -> ImportResult:
    with Progress(
        TextColumn(f"[bold]importing[/] {escape(path.name)}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return anyio.run(
            lambda: import_ticks(
                args.data_dir,
                path,
                args.symbol,
                fmt=args.format,
                zone=args.tz,
                on_error=args.on_error,
                progress=progress,
            )
        )


def _report(result: ImportResult, console: Console) -> None:
    out = console.print
    span = ""
    if result.first_ts is not None and result.last_ts is not None:
        span = f", {format_ts(result.first_ts)[:23]} .. {format_ts(result.last_ts)[:23]} UTC"
    if result.status == "already imported":
        out(
            f"{result.path}: already imported for {result.symbol} ({result.total_ticks:,} "
            f"ticks{span}); nothing done",
            highlight=False, markup=False,
        )  # fmt: skip
        return
    for error in result.errors[:SHOWN_ERRORS]:
        print_error(f"{result.path}: {error}")
    more = result.skipped - min(len(result.errors), SHOWN_ERRORS)
    if more > 0:
        print_error(f"{result.path}: {more:,} more bad row(s)")
    if result.status == "refused":
        print_error(
            f"{result.path}: {result.skipped:,} bad row(s); nothing imported (--on-error stop)"
        )
        return
    rate = result.ticks / max(result.seconds, 1e-9)
    resumed = ""
    if result.status == "resumed":
        resumed = f", resumed after line {result.resumed_from:,}" + (
            f" and {result.recovered:,} ticks an interrupted run had stored"
            if result.recovered
            else ""
        )
    via = "by this process" if result.via == "bot" else "by the running bot (through the outbox)"
    out(
        f"{result.path}: {result.ticks:,} ticks of {result.symbol} imported ({result.format}"
        f"{resumed}) in {result.seconds:.1f}s ({rate:,.0f}/s), stored {via}; "
        f"{result.skipped:,} bad row(s) skipped"
        + (f", {result.incomplete:,} row(s) without both sides yet" if result.incomplete else "")
        + f"; {result.total_ticks:,} ticks in all{span}",
        highlight=False, markup=False,
    )  # fmt: skip
