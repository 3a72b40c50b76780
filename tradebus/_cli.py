"""The ``tradebus`` command line: init, demo, stats, bench."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from rich.console import Console
from rich.table import Table

from schemas import InvalidEvent, check_symbol, format_ts
from writers import WriterError, create_database

from ._exceptions import TradebusError
from ._node import ensure_data_dir
from ._topology import Topology

__all__ = ["main"]

_DEFAULT_DIR = "data"


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line and exit status 2, no traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tradebus: error: {message} (see 'tradebus --help')\n")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="tradebus",
        description="Persist a trading system's event stream into SQLite, one writer per file.",
    )
    parser.add_argument("--version", action="version", version=f"tradebus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    init = commands.add_parser("init", help="create or migrate the three databases")
    init.add_argument("--data-dir", default=_DEFAULT_DIR, type=Path, help="default: ./data")

    demo = commands.add_parser(
        "demo", help="run the whole system in one process on a simulated market"
    )
    demo.add_argument("--data-dir", default=_DEFAULT_DIR, type=Path, help="default: ./data")
    demo.add_argument("--seconds", type=_positive_float, default=10.0, help="default: 10")
    demo.add_argument(
        "--symbols", nargs="+", type=_symbol, default=["BTCUSDT", "ETHUSDT", "EURUSD"]
    )
    demo.add_argument(
        "--rate", type=_positive_float, default=3000.0, help="ticks per second (default: 3000)"
    )
    demo.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")

    stats = commands.add_parser("stats", help="rows, sizes and time spans of a data directory")
    stats.add_argument("--data-dir", default=_DEFAULT_DIR, type=Path, help="default: ./data")

    check = commands.add_parser("check", help="full integrity check of every database (read-only)")
    check.add_argument("--data-dir", default=_DEFAULT_DIR, type=Path, help="default: ./data")

    commands.add_parser(
        "bench", help="the tick-throughput benchmark (see 'tradebus bench --help')", add_help=False
    )
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


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
    console = Console()
    err = Console(stderr=True)
    try:
        if args.command == "init":
            return _init(args.data_dir, console)
        if args.command == "demo":
            return _demo(args, console)
        if args.command == "stats":
            return _stats(args.data_dir, console)
        if args.command == "check":
            from ._check import check

            return check(args.data_dir, console, err)
    except (TradebusError, WriterError, OSError) as exc:
        err.print(f"[bold red]tradebus: error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        return 130
    parser.print_help()
    return 0


def _init(data_dir: Path, console: Console) -> int:
    ensure_data_dir(data_dir)
    topology = Topology.default()

    async def create_all() -> list[tuple[str, str, int, int]]:
        done = []
        for role, spec in topology.owners.items():
            found, now = await create_database(spec, data_dir / spec.filename, role=role)
            done.append((spec.name, spec.filename, found, now))
        return done

    table = Table(title=f"tradebus init {data_dir}", title_justify="left")
    for column in ("database", "file", "schema"):
        table.add_column(column)
    for name, filename, found, now in anyio.run(create_all):
        change = f"created (v{now})" if found == 0 else (
            f"migrated v{found} -> v{now}" if found < now else f"up to date (v{now})"
        )  # fmt: skip
        table.add_row(name, filename, change)
    console.print(table)
    return 0


def _demo(args: argparse.Namespace, console: Console) -> int:
    from ._demo import DemoConfig, run_demo

    ensure_data_dir(args.data_dir)
    config = DemoConfig(
        data_dir=args.data_dir,
        seconds=args.seconds,
        symbols=tuple(dict.fromkeys(args.symbols)),
        rate=args.rate,
        seed=args.seed,
    )
    console.print(
        f"[bold]tradebus demo[/]: {len(config.symbols)} symbols at {config.rate:,.0f} ticks/s "
        f"for {config.seconds:g}s into {config.data_dir}/ (Ctrl-C stops cleanly)"
    )
    result = anyio.run(run_demo, config, console)
    _stats(config.data_dir, console, title="committed rows")
    stopped = " (stopped by signal)" if result.stopped_by_signal else ""
    console.print(
        f"{result.ticks:,} ticks in {result.seconds:.1f}s "
        f"({result.ticks / max(result.seconds, 1e-9):,.0f}/s){stopped}; "
        f"{result.recommendations} recommendations, {result.executions} executions, "
        f"{result.closed} closed ({result.wins} won, {result.losses} lost), "
        f"realized P&L {result.realized_pnl:+.4f}"
    )
    return 0


def _stats(data_dir: Path, console: Console, title: str | None = None) -> int:
    from ._stats import summarize

    summaries = summarize(data_dir)
    table = Table(title=title or f"tradebus stats {data_dir}", title_justify="left")
    for column in ("database", "table", "rows", "first", "last"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for db in summaries:
        if not db.exists:
            table.add_row(db.database, f"[dim]{db.path.name} missing[/]", "", "", "")
            continue
        for t in db.tables:
            table.add_row(
                db.database,
                t.table,
                f"{t.rows:,}",
                _when(t.first_ts),
                _when(t.last_ts),
            )
    console.print(table)
    for db in summaries:
        if db.exists:
            console.print(
                f"{db.path.name}: {_size(db.bytes)} (+ WAL {_size(db.wal_bytes)}), "
                f"schema v{db.schema_version}"
            )
    return 0


def _when(ts: int | None) -> str:
    return "" if ts is None else format_ts(ts)[:19].replace("T", " ")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
