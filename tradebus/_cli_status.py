"""``tradebus status``: every role's process, from the data directory's status file."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import msgspec
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ._cli_args import at_least_zero, data_dir_argument
from ._stats import check_data_dir
from ._status import STATUS_FILENAME, ProcessStatus, this_host
from ._status_check import EXIT_LAGGING, EXIT_ROLE_MISSING, StatusCheck, check_status
from ._status_file import read_status
from ._topology import Topology

__all__ = ["DEFAULT_MAX_LAG", "add_parser", "run"]

#: Seconds a relay's oldest pending event may wait before ``status`` fails (exit 4).
DEFAULT_MAX_LAG = 60.0


class _Commands(Protocol):
    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_parser(commands: _Commands) -> None:
    """Add ``status`` to the CLI's commands."""
    status = commands.add_parser(
        "status",
        help="every role's process, its heartbeat, counters and relay lag (read-only)",
        description=(
            "Show the processes of a data directory from its status file "
            f"({STATUS_FILENAME}). Exit status: 0 when every role has a live process "
            f"and no relay lags beyond --max-lag; {EXIT_ROLE_MISSING} when a role has no "
            f"live process; {EXIT_LAGGING} when a relay lags beyond --max-lag; 1 on an "
            "error (no data directory, a status file of a newer tradebus)."
        ),
    )
    data_dir_argument(status)
    status.add_argument("--json", action="store_true", help="print the check and the file as JSON")
    status.add_argument(
        "--max-lag",
        type=at_least_zero,
        default=DEFAULT_MAX_LAG,
        metavar="SECONDS",
        help=f"the relay lag beyond which status fails (default: {DEFAULT_MAX_LAG:g})",
    )
    status.add_argument(
        "--all", action="store_true", help="also list the processes that stopped or died"
    )


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the status of ``args.data_dir``; return the exit status."""
    check_data_dir(args.data_dir, must_exist=True)
    result = check_status(
        read_status(args.data_dir), Topology.default().roles, max_lag=args.max_lag
    )
    if args.json:
        console.out(
            msgspec.json.format(msgspec.json.encode(result), indent=2).decode(), highlight=False
        )
    else:
        _print(result, args.data_dir, console, show_ended=args.all)
    return result.exit_code


def _print(result: StatusCheck, data_dir: Path, console: Console, *, show_ended: bool) -> None:
    status = result.status
    now = result.checked
    if not status.processes:
        console.print(
            f"No process has written {data_dir / STATUS_FILENAME} yet (every node writes "
            "its entry there while it runs).",
            highlight=False,
            markup=False,
        )
    table = Table(
        title=Text(f"tradebus status {data_dir}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # The host column only when a process of another host writes here too.
    show_host = any(p.host != this_host() for p in status.processes.values())
    for column, right in (
        ("role", False),
        ("pid", True),
        *([("host", False)] if show_host else []),
        ("state", False),
        ("beat", True),
        ("events/rows", True),
        ("queue", True),
    ):
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    table.add_column("relay lag")
    table.add_column("last error / note")

    def add_row(cells: list[str | Text], style: str | None = None) -> None:
        table.add_row(*(cells if show_host else cells[:2] + cells[3:]), style=style)

    shown: set[str] = set()
    for role, process_id in result.roles.items():
        if process_id is None:
            add_row([
                Text(role), "-", "-", Text("missing", style="bold red"), "", "", "", "",
                Text(_last_seen(role, status.processes.values(), now)),
            ])  # fmt: skip
        elif process_id not in shown:
            shown.add(process_id)
            add_row(_cells(status.processes[process_id], now, result.max_lag))
    for process in status.live():
        if process.id not in shown:  # clients (no role)
            shown.add(process.id)
            add_row(_cells(process, now, result.max_lag))
    ended = sorted(
        (p for p in status.processes.values() if p.id not in shown and p.state != "running"),
        key=lambda p: p.heartbeat,
        reverse=True,
    )
    if show_ended:
        for process in ended:
            add_row(_cells(process, now, result.max_lag), style="dim")
    console.print(table)
    for process in status.live():
        if process.http:
            console.print(
                f"HTTP API: {escape(process.http)} ({escape(', '.join(process.roles) or 'client')},"
                f" pid {process.pid})",
                highlight=False,
            )
    if ended and not show_ended:
        console.print(
            f"{len(ended)} process(es) that stopped or died not shown (--all shows them).",
            style="dim",
            highlight=False,
        )
    for lag in result.lagging:
        console.print(
            f"[bold red]lagging:[/] {escape(lag.relay)} in {escape(lag.process)}: "
            f"{lag.pending:,} events, the "
            f"oldest waiting {lag.lag_seconds:.1f}s (more than --max-lag {result.max_lag:g})",
            highlight=False,
        )
    missing = [role for role, process in result.roles.items() if process is None]
    if missing:
        console.print(
            f"[bold red]not healthy:[/] no live process for {escape(', '.join(missing))} "
            f"('tradebus run --data-dir {escape(str(data_dir))} --role ROLE' starts one)",
            highlight=False,
        )
    elif not result.lagging:
        console.print("[bold green]healthy:[/] every role has a live process", highlight=False)


def _cells(p: ProcessStatus, now: int, max_lag: float) -> list[str | Text]:
    state_style = {"running": "green", "stopping": "yellow"}.get(p.state, "red")
    lags = Text()
    for relay in p.relays.values():
        if lags:
            lags.append("\n")
        style = "bold red" if relay.lag_seconds > max_lag else ""
        lags.append(f"{relay.source}: {relay.pending:,} ({relay.lag_seconds:.1f}s)", style=style)
    note = Text(p.last_error or "", style="red")
    if p.dead_reason:
        note.append(("\n" if note else "") + p.dead_reason)
    pruned = sum(w.pruned for w in p.writers.values())
    if pruned:
        note.append(("\n" if note else "") + f"retention pruned {pruned:,} rows", style="dim")
    return [
        Text("\n".join(p.roles) or "(client)"),
        str(p.pid),
        Text(p.host),
        Text(p.state, style=state_style),
        _age(now - p.heartbeat),
        f"{p.events_written:,}/{p.rows_written:,}",
        f"{sum(p.queue_depth.values()):,}",
        lags or "-",
        note,
    ]


def _last_seen(role: str, processes: Iterable[ProcessStatus], now: int) -> str:
    seen = [p for p in processes if role in p.roles]
    if not seen:
        return "never seen"
    last = max(seen, key=lambda p: p.heartbeat)
    where = "" if last.host == this_host() else f" on {last.host}"
    return f"last: pid {last.pid}{where}, {last.state} {_age(now - last.heartbeat)} ago"


def _age(ns: int) -> str:
    seconds = max(0.0, ns / 1e9)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d"
