"""``tradebus up``: the whole system as one role process per role, supervised."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._apps import AppError, split_app_spec
from ._cli_args import data_dir_argument, more_than_zero
from ._cli_run import EXIT_FAILED, EXIT_USAGE, print_error
from ._cli_up_options import passed_on, up_arguments
from ._exceptions import TradebusError
from ._node import ensure_data_dir
from ._signals import StopSignals
from ._stats import check_data_dir
from ._status_file import read_status
from ._supervisor import Child, Supervisor, describe_exit
from ._topology import Topology

__all__ = ["ProcessView", "add_parser", "read_process_views", "run"]

_STATUS_EVERY = 1.0  # seconds between two reads of the status file


def add_parser(commands: Any) -> None:
    """Add ``tradebus up`` to the CLI's subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "up",
        help="run every role as its own process, restart those that die, stop all on Ctrl-C",
        description=(
            "Start one 'tradebus run' process per role of the topology, show them live, "
            "restart one that dies (backoff 0.5 s doubling to 30 s), and on SIGINT or "
            "SIGTERM stop them all (SIGTERM, then SIGKILL after --stop-timeout). Each "
            "process's output goes to DIR/logs/ROLE.log."
        ),
    )
    data_dir_argument(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run each role's bundled demo app (tradebus.role_apps:ROLE)",
    )
    parser.add_argument(
        "--app",
        dest="apps",
        action="append",
        default=[],
        metavar="ROLE=MODULE:FUNCTION",
        help="run this app in ROLE's process (repeat per role; overrides --demo's)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=more_than_zero,
        default=30.0,
        metavar="SECONDS",
        help="how long a role process may take to stop before it is killed (default: 30)",
    )
    up_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """``tradebus up``: return the exit status."""
    topology = Topology.default()
    try:
        apps = _apps(topology, args.demo, args.apps)
        options, role_options = passed_on(args)
        check_data_dir(args.data_dir, must_exist=False)
        ensure_data_dir(args.data_dir)
    except (AppError, TradebusError) as exc:
        print_error(str(exc))
        return EXIT_USAGE
    try:
        (args.data_dir / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        print_error(f"cannot create the log directory {args.data_dir / 'logs'}: {exc}")
        return EXIT_FAILED
    display = _Display(console, args.data_dir)
    supervisor = Supervisor(
        args.data_dir,
        apps,
        display.say,
        stop_timeout=args.stop_timeout,
        options=options,
        role_options=role_options,
    )
    display.supervisor = supervisor
    roles = ", ".join(f"{role} ({app or 'no app'})" for role, app in apps.items())
    display.say(
        f"starting {roles} in "
        f"{args.data_dir}; each process's output goes to {supervisor.log_dir}/ROLE.log; "
        "Ctrl-C stops them all"
    )
    with StopSignals() as stop, display:
        status = anyio.run(supervisor.run, stop, display.tick)
    display.say("all role processes stopped" if status == 0 else f"exit status {status}")
    return status


def _apps(topology: Topology, demo: bool, specs: list[str]) -> dict[str, str | None]:
    apps: dict[str, str | None] = {
        role: f"tradebus.role_apps:{role}" if demo else None for role in topology.roles
    }
    for spec in specs:
        role, sep, app = spec.partition("=")
        if not sep:
            raise AppError(f"--app {spec!r} is not of the form ROLE=MODULE:FUNCTION")
        if role not in apps:
            raise AppError(
                f"--app {spec!r}: unknown role {role!r}; the roles are {', '.join(topology.roles)}"
            )
        split_app_spec(app)
        apps[role] = app
    return apps


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessView:
    """What the status file says about one process (None: not said)."""

    pid: int
    state: str
    events_written: int | None = None
    relay_lag: float | None = None
    last_error: str | None = None


def read_process_views(data_dir: Path) -> dict[int, ProcessView]:
    """The status file's processes by pid (a running entry wins over an ended one of
    an earlier process with the same pid); empty when it cannot be read."""
    try:
        status = read_status(data_dir)
    except TradebusError:
        return {}
    views: dict[int, ProcessView] = {}
    for process in status.processes.values():
        known = views.get(process.pid)
        if known is not None and known.state == "running":
            continue
        lags = [relay.lag_seconds for relay in process.relays.values()]
        views[process.pid] = ProcessView(
            pid=process.pid,
            state=process.state,
            events_written=process.events_written,
            relay_lag=max(lags) if lags else None,
            last_error=process.last_error,
        )
    return views


class _Display:
    """A live table on a terminal; plain timestamped lines otherwise."""

    def __init__(self, console: Console, data_dir: Path) -> None:
        self.console = console
        self.data_dir = data_dir
        self.supervisor: Supervisor | None = None
        self.live: Live | None = None
        self._views: dict[int, ProcessView] = {}
        self._rates: dict[int, float] = {}
        self._seen: dict[int, tuple[float, int]] = {}
        self._next_read = 0.0

    def __enter__(self) -> _Display:
        if self.console.is_terminal:
            self.live = Live(self._table(), console=self.console, refresh_per_second=2)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.__exit__(None, None, None)
            self.live = None

    def say(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        text = f"{stamp} tradebus up: {line}"
        if self.live is not None:
            self.live.console.print(text, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next_read:
            return
        self._next_read = now + _STATUS_EVERY
        self._views = read_process_views(self.data_dir)
        for pid, view in self._views.items():
            if view.events_written is None:
                continue
            before = self._seen.get(pid)
            if before is not None and now > before[0]:
                self._rates[pid] = (view.events_written - before[1]) / (now - before[0])
            self._seen[pid] = (now, view.events_written)
        if self.live is not None:
            self.live.update(self._table())

    def _table(self) -> Table:
        table = Table(title=Text(f"tradebus up {self.data_dir}"), title_justify="left")
        for column in ("role", "pid", "state", "up", "restarts", "events/s", "relay lag"):
            table.add_column(column, justify="right" if column != "role" else "left")
        table.add_column("last error", overflow="fold")
        for child in self.supervisor.children if self.supervisor else ():
            # Text, not markup: errors and names come from files others can write.
            table.add_row(*map(Text, self._row(child)))
        return table

    def _row(self, child: Child) -> tuple[str, ...]:
        running = child.state == "running"
        view = self._views.get(child.pid) if child.pid is not None and running else None
        rate = self._rates.get(child.pid) if child.pid is not None and running else None
        error = (view.last_error if view else None) or child.last_error
        if child.state in ("restarting", "failed") and child.last_exit is not None:
            error = f"exit {child.last_exit} ({describe_exit(child.last_exit)})" + (
                f": {error}" if error else ""
            )
        return (
            child.role,
            str(child.pid) if child.pid is not None and running else "",
            child.state,
            f"{time.monotonic() - child.started:.0f} s" if running else "",
            str(child.restarts),
            f"{rate:,.0f}" if rate is not None else "",
            f"{view.relay_lag:.1f} s" if view and view.relay_lag is not None else "",
            error or "",
        )
