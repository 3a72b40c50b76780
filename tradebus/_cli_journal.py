"""``tradebus journal TICKET`` and ``tradebus journal --since T``: read-only."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
from typing import Any, Protocol

import anyio
import msgspec
from rich import box
from rich.console import Console
from rich.table import Table

from schemas import format_ts

from ._cli_args import data_dir_argument
from ._cli_contracts import contract_size_argument, contract_sizes_of
from ._cli_run import print_error
from ._exceptions import TradebusError
from ._journal import Journal, JournalSummary, closed_trades, journal

__all__ = ["add_parser", "parse_ticket", "parse_time", "run"]

#: What the databases hold: times and tickets are signed 64-bit integers.
_MAX_INT64 = 2**63 - 1


class _Commands(Protocol):
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def parse_ticket(text: str) -> int:
    """A ticket: an integer from 1 to 2**63 - 1."""
    try:
        ticket = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a ticket (an integer), got {text!r}") from None
    if not 0 < ticket <= _MAX_INT64:
        raise argparse.ArgumentTypeError(
            f"ticket {text} is out of range: expected an integer from 1 to {_MAX_INT64}"
        )
    return ticket


def parse_time(text: str) -> int:
    """An ISO 8601 time (UTC unless it says otherwise) or integer ns since the epoch,
    from 1970-01-01 to 2262-04-11 23:47:16 UTC (what a stored time can be)."""
    value = int(text) if text.isdigit() else _iso(text)
    if not 0 <= value <= _MAX_INT64:
        raise argparse.ArgumentTypeError(
            f"time {text!r} is out of range: expected a time from 1970-01-01 to "
            f"2262-04-11T23:47:16 UTC (or ns since the epoch, 0 to {_MAX_INT64})"
        )
    return value


def _iso(text: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time (2024-01-02T10:00:00) or ns since the epoch, got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def add_parser(commands: _Commands) -> None:
    """Add ``journal`` to the CLI's commands."""
    parser = commands.add_parser(
        "journal",
        help="the life of a trade, or the closed trades since a time (read-only)",
        description=(
            "With TICKET: every stored row of that trade across the three databases in time "
            "order, and its summary (duration, P&L, R multiple, MAE and MFE from the stored "
            "ticks, in price and in money with --contract-size). With --since: the closed "
            "trades since then with those figures. "
            "Read-only: safe while the role processes run. Exit status: 0; 1 on an error (no "
            "such trade, no data directory); 2 unless exactly one of TICKET and --since is given."
        ),
    )
    parser.add_argument(
        "ticket", type=parse_ticket, nargs="?", metavar="TICKET", help="the trade's ticket"
    )
    parser.add_argument(
        "--since", type=parse_time, default=None, metavar="T",
        help="list the trades closed at or after T (ISO 8601, UTC unless said; or ns)",
    )  # fmt: skip
    parser.add_argument("--symbol", default=None, help="with --since: only this symbol")
    contract_size_argument(parser)
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="how to print it: table (default), json, or csv (one row per entry or trade)",
    )
    data_dir_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    if (args.ticket is None) == (args.since is None):
        print_error("give a TICKET, or --since T to list closed trades (see 'journal --help')")
        return 2
    sizes = contract_sizes_of(args)
    try:
        if args.ticket is not None:
            one = anyio.run(lambda: journal(args.data_dir, args.ticket, contract_sizes=sizes))
            _print_journal(one, args.format, console)
        else:
            since, symbol = args.since, args.symbol
            trades = anyio.run(
                lambda: closed_trades(
                    args.data_dir, since=since, symbol=symbol, contract_sizes=sizes
                )
            )
            _print_trades(trades, args.format, console)
    except (TradebusError, OSError) as exc:
        print_error(str(exc))
        return 1
    return 0


def _when(ts: int | None) -> str:
    return "" if ts is None else format_ts(ts)[:23].replace("T", " ")


def _num(value: float | None, digits: int = 5) -> str:
    return "" if value is None else f"{value:.{digits}g}"


_SUMMARY_COLUMNS = (
    "ticket", "symbol", "direction", "status", "opened_ts", "closed_ts", "duration_seconds",
    "entry_price", "exit_price", "initial_stop", "pnl", "outcome", "r_multiple", "mae", "mfe",
    "mae_r", "mfe_r", "ticks", "contract_size", "computed_pnl", "mae_money", "mfe_money",
)  # fmt: skip


def _print_journal(one: Journal, fmt: str, console: Console) -> None:
    if fmt == "json":
        console.out(msgspec.json.format(msgspec.json.encode(one), indent=2).decode())
        return
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("ts", "time_utc", "database", "table", "kind", "text"))
        for e in one.entries:
            writer.writerow((e.ts, _when(e.ts), e.database, e.table, e.kind, e.text))
        console.out(out.getvalue(), end="")
        return
    s = one.summary
    table = Table(box=box.SIMPLE_HEAD, title=f"trade {s.ticket}", title_justify="left")
    for column in ("time (UTC)", "stored in", "event"):
        table.add_column(column, no_wrap=column != "event")
    for e in one.entries:
        table.add_row(_when(e.ts), f"{e.database}.{e.table}", e.text)
    console.print(table, markup=False)
    console.print(_summary_line(s), highlight=False, markup=False)


def _summary_line(s: JournalSummary) -> str:
    parts = [f"{s.direction or '?'} {s.symbol} {s.status}"]
    if s.duration_seconds is not None:
        parts.append(f"duration {dt.timedelta(seconds=round(s.duration_seconds))}")
    if s.pnl is not None:
        parts.append(f"P&L {s.pnl:+g}" + (f" ({s.outcome})" if s.outcome else ""))
    if s.computed_pnl is not None:
        parts.append(f"P&L from prices {s.computed_pnl:+g} (contract size {s.contract_size:g})")
    parts.append("R " + (f"{s.r_multiple:+.2f}" if s.r_multiple is not None else "n/a (no stop)"))
    if s.mae is None or s.mfe is None:
        parts.append("MAE/MFE n/a (no stored ticks in the trade's time)")
    else:
        in_r = f" ({s.mae_r:.2f}R / {s.mfe_r:.2f}R)" if s.mae_r is not None else ""
        money = ""
        if s.mae_money is not None and s.mfe_money is not None:
            money = f", in money {s.mae_money:.6g} / {s.mfe_money:.6g}"
        parts.append(f"MAE {s.mae:.6g} / MFE {s.mfe:.6g}{in_r}{money} over {s.ticks:,} ticks")
    return "; ".join(parts)


def _print_trades(trades: list[JournalSummary], fmt: str, console: Console) -> None:
    if fmt == "json":
        console.out(msgspec.json.format(msgspec.json.encode(trades), indent=2).decode())
        return
    rows = [[getattr(s, c) for c in _SUMMARY_COLUMNS] for s in trades]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_SUMMARY_COLUMNS)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        console.out(out.getvalue(), end="")
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"{len(trades)} closed trade(s)", title_justify="left")
    for column in ("ticket", "symbol", "dir", "closed (UTC)", "duration", "P&L", "R", "MAE", "MFE"):
        table.add_column(column, no_wrap=True)
    for s in trades:
        duration = "" if s.duration_seconds is None else str(
            dt.timedelta(seconds=round(s.duration_seconds))
        )  # fmt: skip
        table.add_row(
            str(s.ticket), s.symbol, s.direction or "", _when(s.closed_ts), duration,
            "" if s.pnl is None else f"{s.pnl:+g}",
            "n/a" if s.r_multiple is None else f"{s.r_multiple:+.2f}",
            "n/a" if s.mae is None else _num(s.mae), "n/a" if s.mfe is None else _num(s.mfe),
        )  # fmt: skip
    console.print(table, markup=False)
