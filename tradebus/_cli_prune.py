"""``tradebus prune``: delete what a retention policy no longer keeps (or, with
``--dry-run``, only say what that is).

A prune is the job of the database's writer: this command takes a database's writer
lock (as its role's process would) and prunes it in bounded steps. A database whose
role process runs is left to that process, which prunes by its own policy
(``tradebus run --retain ...``): this command never writes behind a writer's back.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

import anyio
from rich import box
from rich.console import Console
from rich.table import Table

import schemas
from eventbus import EventBus
from schemas import format_ts
from writers import (
    DatabaseSpec,
    InvalidOption,
    Pruner,
    Retention,
    WriterActor,
    WriterError,
    WriterLockError,
    prunable,
)

from ._cli_args import data_dir_argument
from ._cli_run import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, print_error
from ._exceptions import TradebusError
from ._retention_args import retain_argument, retention_of
from ._signals import StopSignals
from ._stats import check_data_dir
from ._topology import Topology

__all__ = ["add_parser", "run"]

_POLL = 0.1  # seconds between two looks at the signals


def add_parser(commands: Any) -> None:
    """Add ``tradebus prune`` to the CLI's subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "prune",
        help="delete rows older than a retention policy keeps (--dry-run: only count them)",
        description=(
            "Delete the rows whose event time is older than --retain keeps, database by "
            "database, in bounded transactions. --dry-run counts them (read-only, safe "
            "while writers run). A database whose role process runs is not touched: that "
            "process prunes by its own policy (tradebus run --retain ...). Exit status: 0 "
            "done, 1 failed, 2 bad arguments, 3 a database has a running writer (not "
            "pruned here)."
        ),
    )
    data_dir_argument(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="only say per table how many rows would go and the time bound; change nothing",
    )
    retain_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """``tradebus prune``: return the exit status."""
    try:
        policy = retention_of(args)
    except InvalidOption as exc:
        print_error(f"--retain: {exc}")
        return EXIT_USAGE
    if policy is None or not policy.enabled:
        print_error(
            "name what to prune, for example --retain ticks=30d,logs=90d (groups not named "
            "are kept forever); nothing was done"
        )
        return EXIT_USAGE
    try:
        check_data_dir(args.data_dir, must_exist=True)
    except TradebusError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    topology = Topology.default()
    now = time.time_ns()
    what = "counting, changing nothing" if args.dry_run else "deleting"
    console.print(
        f"tradebus prune {args.data_dir}: {policy.describe()} ({what})",
        style="bold",
        highlight=False,
    )
    if args.dry_run:
        return _dry_run(args.data_dir, topology, policy, now, console)
    with StopSignals() as stop:
        return _prune(args.data_dir, topology, policy, now, console, stop)


def _files(data_dir: Path, topology: Topology, policy: Retention, console: Console) -> Any:
    """The (role, spec, path) of each database the policy prunes and that exists."""
    for role, spec in topology.owners.items():
        path = data_dir / spec.filename
        if not policy.bounds(spec.tables, 0):
            console.print(f"{spec.name}: nothing in it is pruned by this policy", highlight=False)
        elif not path.exists():
            console.print(f"{spec.name}: {spec.filename} does not exist", highlight=False)
        else:
            yield role, spec, path


def _dry_run(
    data_dir: Path, topology: Topology, policy: Retention, now: int, console: Console
) -> int:
    status = EXIT_OK
    for _role, spec, path in _files(data_dir, topology, policy, console):
        try:
            counted = prunable(path, spec, policy, now)
        except WriterError as exc:
            print_error(str(exc))
            status = EXIT_FAILED
            continue
        total = sum(c.rows for c in counted)
        console.print(
            f"{spec.name}: {spec.filename}: {total:,} rows would be deleted",
            highlight=False,
        )
        table = _table("rows to delete")
        for c in counted:
            table.add_row(c.table, f"{c.rows:,}", _when(c.bound), _when(c.oldest))
        console.print(table)
    return status


def _prune(
    data_dir: Path,
    topology: Topology,
    policy: Retention,
    now: int,
    console: Console,
    stop: StopSignals,
) -> int:
    status = EXIT_OK
    for role, spec, path in _files(data_dir, topology, policy, console):
        if stop.first is not None:
            break
        try:
            pruned, seconds = anyio.run(_prune_one, spec, path, role, policy, now, stop)
        except WriterLockError as exc:
            print_error(
                f"{spec.name}: {path} is written by {exc.holder}: that process prunes it by "
                "its own retention policy (start its role with 'tradebus run --retain "
                "GROUP=AGE,...' or open_node(..., retention=Retention(...))); not pruned here"
            )
            status = max(status, EXIT_LOCKED)
            continue
        except (TradebusError, OSError) as exc:
            print_error(f"{spec.name}: pruning {path} failed: {exc}")
            status = EXIT_FAILED
            continue
        total = sum(pruned.values())
        console.print(
            f"{spec.name}: {spec.filename}: {total:,} rows deleted in {seconds:.1f} s",
            highlight=False,
        )
        table = _table("rows deleted", oldest=False)
        bounds = policy.bounds(spec.tables, now)
        for name, bound in bounds.items():
            table.add_row(name, f"{pruned.get(name, 0):,}", _when(bound))
        console.print(table)
    if stop.first is not None:
        print_error(
            f"interrupted by {signal.Signals(stop.first).name}: what was deleted is "
            "committed, the rest is untouched; run the same command again to finish"
        )
        return 128 + stop.first
    return status


async def _prune_one(
    spec: DatabaseSpec, path: Path, role: str, policy: Retention, now: int, stop: StopSignals
) -> tuple[dict[str, int], float]:
    """Take ``path``'s writer (its lock) and prune it once; rows deleted per table."""
    started = time.monotonic()
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(bus, spec, path, role=role) as writer,
        anyio.create_task_group() as tg,
    ):

        async def watch() -> None:
            # A signal handler sets it: no event to wait on from there.
            while stop.first is None:  # noqa: ASYNC110
                await anyio.sleep(_POLL)
            tg.cancel_scope.cancel()  # between two steps: each one is committed

        tg.start_soon(watch)
        await Pruner(writer, policy, clock=lambda: now).prune()
        tg.cancel_scope.cancel()
    return writer.statistics().pruned, time.monotonic() - started


def _table(counted: str, *, oldest: bool = True) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("table", no_wrap=True)
    table.add_column(counted, justify="right", no_wrap=True)
    table.add_column("older than (UTC)", no_wrap=True)
    if oldest:
        table.add_column("oldest (UTC)", no_wrap=True)
    return table


def _when(ts: int | None) -> str:
    return "" if ts is None else format_ts(ts)[:19].replace("T", " ")
