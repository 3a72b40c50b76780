"""The ``tradebus`` command line: init, demo, stats, bench."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from rich import box
from rich.console import Console
from rich.table import Table

from schemas import InvalidEvent, check_symbol, format_ts
from writers import WriterLockError, create_database

from . import _cli_bridge, _cli_candles, _cli_status
from ._check import check
from ._cli_args import data_dir_argument, more_than_zero
from ._cli_contracts import contract_size_argument, contract_sizes_of
from ._cli_http import add_serve_parser, http_app_of, http_arguments
from ._cli_import import add_parser as add_import_parser
from ._cli_journal import add_parser as add_journal_parser
from ._cli_log import CliLog
from ._cli_prune import add_parser as add_prune_parser
from ._cli_run import add_parser as add_run_parser
from ._cli_run import print_error
from ._cli_up import add_parser as add_up_parser
from ._exceptions import TradebusError
from ._node import ensure_data_dir
from ._signals import StopSignals
from ._stats import check_data_dir
from ._topology import Topology

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line and exit status 2, no traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tradebus: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="tradebus",
        description="Persist a trading system's event stream into SQLite, one writer per file.",
    )
    parser.add_argument("--version", action="version", version=f"tradebus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    init = commands.add_parser("init", help="create or migrate the three databases")
    data_dir_argument(init)

    demo = commands.add_parser(
        "demo", help="run the whole system in one process on a simulated market"
    )
    data_dir_argument(demo)
    demo.add_argument(
        "--seconds", type=more_than_zero, default=10.0, help="how long to run (default: 10)"
    )
    demo.add_argument(
        "--symbols",
        nargs="+",
        type=_symbol,
        default=["BTCUSDT", "ETHUSDT", "EURUSD"],
        metavar="SYMBOL",
        help="the symbols to simulate (default: BTCUSDT ETHUSDT EURUSD)",
    )
    demo.add_argument(
        "--rate", type=more_than_zero, default=3000.0, help="ticks per second (default: 3000)"
    )
    demo.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")
    contract_size_argument(demo)
    http_arguments(demo)

    stats = commands.add_parser(
        "stats", help="rows, sizes and time spans of a data directory (read-only)"
    )
    data_dir_argument(stats)

    check = commands.add_parser(
        "check", help="full integrity check of every database (read-only, safe while writing)"
    )
    data_dir_argument(check)
    _cli_status.add_parser(commands)

    add_run_parser(commands)
    add_up_parser(commands)
    add_serve_parser(commands)
    add_prune_parser(commands)
    add_import_parser(commands)
    add_journal_parser(commands)
    _cli_candles.add_parser(commands)
    _cli_bridge.add_parser(commands)
    commands.add_parser(
        "bench", help="the tick-throughput benchmark (see 'tradebus bench --help')", add_help=False
    )
    return parser


def _symbol(text: str) -> str:
    try:
        check_symbol("demo", text)
    except InvalidEvent as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        from bench import main as bench_main

        return bench_main(args_list[1:], prog="tradebus bench")
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 0
    console = Console()
    if hasattr(args, "handler"):  # a command that reports its own errors and signals
        return int(args.handler(args, console))
    with CliLog() as log:
        try:
            if args.command == "init":
                return _init(args.data_dir, console)
            if args.command == "demo":
                return _demo(args, console)
            if args.command == "stats":
                return _stats(args.data_dir, console)
            if args.command == "check":
                check_data_dir(args.data_dir, must_exist=True)
                return check(args.data_dir, console, Console(stderr=True))
            if args.command == "status":
                return _cli_status.run(args, console)
        except (TradebusError, OSError) as exc:  # every error of tradebus, and the system's
            log.finish(exc)
            print_error(_explain(exc, args))
            return 1
        except KeyboardInterrupt:
            log.finish(None)
            print_error(f"interrupted: {_INTERRUPTED[args.command]}")
            return 128 + signal.SIGINT
    parser.print_help()
    return 0


#: What an interruption left behind (init and demo catch the signals themselves).
_INTERRUPTED = {
    "init": "run 'tradebus init' again to finish",
    "demo": "what was committed is kept; 'tradebus stats' shows it",
    "stats": "nothing was changed (stats only reads)",
    "check": "nothing was changed (check only reads)",
    "status": "nothing was changed (status only reads)",
}


def _explain(exc: Exception, args: argparse.Namespace) -> str:
    """The error for a CLI user: what happened, and a step they can take."""
    if isinstance(exc, WriterLockError):
        return (
            f"{exc.path} already has a writer: {exc.holder} holds its lock. Stop that writer "
            f"first, or use 'tradebus stats --data-dir {args.data_dir}' to read what it "
            "has committed"
        )
    return str(exc)


def _init(data_dir: Path, console: Console) -> int:
    check_data_dir(data_dir, must_exist=False)
    ensure_data_dir(data_dir)
    topology = Topology.default()

    async def create_all(stop: StopSignals) -> list[tuple[str, str, int, int]]:
        done = []
        for role, spec in topology.owners.items():
            if stop.first is not None:
                break  # each database is one transaction: stop between two
            found, now = await create_database(spec, data_dir / spec.filename, role=role)
            done.append((spec.name, spec.filename, found, now))
        return done

    table = Table(title=f"tradebus init {data_dir}", title_justify="left")
    for column in ("database", "file", "schema"):
        table.add_column(column)
    with StopSignals() as stop:
        done = anyio.run(create_all, stop)
    for name, filename, found, now in done:
        change = f"created (v{now})" if found == 0 else (
            f"migrated v{found} -> v{now}" if found < now else f"up to date (v{now})"
        )  # fmt: skip
        table.add_row(name, filename, change)
    for spec in topology.databases[len(done) :]:
        table.add_row(spec.name, spec.filename, "not done (interrupted)")
    console.print(table)
    if stop.first is None:
        return 0
    print_error(
        f"interrupted by {signal.Signals(stop.first).name}: run 'tradebus init --data-dir "
        f"{data_dir}' again to finish"
    )
    return 128 + stop.first


def _demo(args: argparse.Namespace, console: Console) -> int:
    from ._demo import DemoConfig, run_demo

    check_data_dir(args.data_dir, must_exist=False)
    ensure_data_dir(args.data_dir)
    config = DemoConfig(
        data_dir=args.data_dir,
        seconds=args.seconds,
        symbols=tuple(dict.fromkeys(args.symbols)),
        rate=args.rate,
        seed=args.seed,
        contract_sizes=contract_sizes_of(args),
        app=http_app_of(args),  # binds --http's address now: one in use is refused at once
    )
    # Signals are caught through the report: a second Ctrl-C while the writers commit
    # what they hold, or while the report is read, must not cut it short.
    with StopSignals() as stop:
        console.print(
            f"[bold]tradebus demo[/]: {_plural(len(config.symbols), 'symbol')} at "
            f"{config.rate:,.0f} "
            f"ticks/s for {config.seconds:g}s into {config.data_dir}/ (Ctrl-C stops it; what "
            "the writers hold is committed first)",
            highlight=False,
        )
        result = anyio.run(run_demo, config, console, stop)
        _stats(config.data_dir, console, title=f"committed rows in {config.data_dir} (all runs)")
        lost = result.ticks_published - result.ticks
        ticks = f"{result.ticks:,} ticks" + (
            f" (of {result.ticks_published:,} published)" if lost else ""
        )
        console.print(
            f"This run committed {ticks} in {result.seconds:.1f}s "
            f"({result.ticks / max(result.seconds, 1e-9):,.0f}/s), "
            f"{result.recommendations} recommendations, {result.executions} executions; "
            f"{result.closed} of {result.opened} positions closed ({result.wins} won, "
            f"{result.losses} lost), realized P&L {result.realized_pnl:+.4f}",
            highlight=False,
        )
        if stop.first is None:
            return 0
        status = 128 + stop.first
        console.print(
            f"Stopped by {signal.Signals(stop.first).name} (exit status {status}).",
            highlight=False,
        )
        return status


def _stats(data_dir: Path, console: Console, title: str | None = None) -> int:
    from ._stats import summarize

    summaries = summarize(data_dir)
    # The same column widths in every database's table, so that they line up.
    names = max((len(t.table) for db in summaries for t in db.tables), default=5)
    counts = max((len(f"{t.rows:,}") for db in summaries for t in db.tables), default=4)
    console.print(title or f"tradebus stats {data_dir}", style="bold", highlight=False)
    for db in summaries:
        console.print()
        if not db.exists:
            console.print(
                f"{db.database}: {db.path.name} does not exist yet "
                f"('tradebus init --data-dir {data_dir}' creates it)",
                highlight=False,
            )
            continue
        console.print(
            f"{db.database}: {db.path.name}, {_size(db.bytes)} "
            f"(+ WAL {_size(db.wal_bytes)}), schema v{db.schema_version}",
            style="bold",
            highlight=False,
        )
        # One narrow table per database: the table names stay whole in 80 columns.
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("table", no_wrap=True, min_width=names)
        table.add_column("rows", justify="right", no_wrap=True, min_width=counts)
        table.add_column("first (UTC)", no_wrap=True)
        table.add_column("last (UTC)", no_wrap=True)
        for t in db.tables:
            table.add_row(t.table, f"{t.rows:,}", _when(t.first_ts), _when(t.last_ts))
        console.print(table)
    return 0


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _when(ts: int | None) -> str:
    return "" if ts is None else format_ts(ts)[:19].replace("T", " ")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
