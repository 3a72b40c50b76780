"""``tradebus run``: one long-lived process hosting roles (and an app) until a signal."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.text import Text

from writers import WriterLockError

from ._apps import App, AppError, load_app
from ._cli_args import data_dir_argument
from ._cli_http import http_app_of, http_arguments
from ._cli_services import service_arguments, service_options
from ._exceptions import TradebusError
from ._node import Node, ensure_data_dir
from ._open_node import open_node
from ._retention_args import retain_argument, retention_of
from ._signals import StopSignals
from ._stats import check_data_dir
from ._topology import Topology

__all__ = [
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_parser",
    "print_error",
    "run",
]

logger = logging.getLogger("tradebus.run")

#: Stopped by SIGINT or SIGTERM, everything drained.
EXIT_OK = 0
#: The app raised, or the node failed (a writer's error): drained what it could.
EXIT_FAILED = 1
#: Bad arguments: an unknown role, an ``--app`` that cannot be run. Nothing was opened.
EXIT_USAGE = 2
#: A role's database has a writer already (another process holds its lock).
EXIT_LOCKED = 3

_POLL = 0.1  # seconds between two looks at the signals (and at the supervisor)


def add_parser(commands: Any) -> None:
    """Add ``tradebus run`` to the CLI's subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="host roles (and an app) in a long-lived process until SIGINT/SIGTERM",
        description=(
            "Host ROLEs (each the only writer of its database) in this process until "
            "SIGINT or SIGTERM, then commit what is held and exit 0. Exit status: 0 "
            "stopped by a signal, 1 the app or the node failed, 2 bad arguments, 3 a "
            "role's database has a writer already."
        ),
    )
    data_dir_argument(parser)
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        metavar="ROLE",
        help="a role to host (repeat for several): " + ", ".join(Topology.default().roles),
    )
    parser.add_argument(
        "--app",
        dest="apps",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="run `async def FUNCTION(node)` of MODULE inside the node (for example "
        "tradebus.role_apps:chatgpt_bot; repeat to run several side by side); the "
        "process serves on once they return",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the least level of log lines written to stderr (default: INFO)",
    )
    parser.add_argument(
        "--store",
        dest="stores",
        action="append",
        default=[],
        metavar="DATABASE=URL",
        help="keep a hosted database in PostgreSQL instead of its SQLite file, e.g. "
        "main=postgresql://user@host:5432/tradebus_main (repeat for several; the "
        "services that read it must be off: --candles none --monitor off)",
    )
    # Set by `tradebus up`: stop (and drain) when the supervisor is gone.
    parser.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)
    retain_argument(parser)
    service_arguments(parser)
    http_arguments(parser)
    parser.set_defaults(handler=run)


def print_error(message: str) -> None:
    """``tradebus: error: message`` on stderr."""
    line = Text.assemble(("tradebus: error:", "bold red"), " ", message)
    Console(stderr=True).print(line, highlight=False, soft_wrap=True)


def _configure_logging(level: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(_not_a_lock_error)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _not_a_lock_error(record: logging.LogRecord) -> bool:
    """A writer refused its lock is said once, by the command's own error line."""
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(isinstance(arg, WriterLockError) for arg in args)


def run(args: argparse.Namespace, console: Console) -> int:
    """``tradebus run``: return the exit status."""
    handler = _configure_logging(args.log_level)
    try:
        return _run(args)
    finally:
        logging.getLogger().removeHandler(handler)


def _run(args: argparse.Namespace) -> int:
    topology = Topology.default()
    roles = tuple(dict.fromkeys(args.roles))
    unknown = [role for role in roles if role not in topology.roles]
    if unknown:
        print_error(
            f"unknown role {unknown[0]!r}: the roles are {', '.join(topology.roles)} "
            f"({topology.describe()})"
        )
        return EXIT_USAGE
    apps: dict[str, App] = {}
    for spec in args.apps:
        try:
            apps[spec] = load_app(spec)
        except AppError as exc:
            print_error(str(exc))
            return EXIT_USAGE
    try:
        http = http_app_of(args)
        if http is not None:
            apps["http"] = http
        check_data_dir(args.data_dir, must_exist=False)
        ensure_data_dir(args.data_dir)
    except TradebusError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    stores: dict[str, str] = {}
    for item in getattr(args, "stores", []):  # `tradebus serve` has no --store
        database, sep, url = item.partition("=")
        if not sep or not database or not url:
            print_error(f"--store must be DATABASE=URL (like main=postgresql://...), got {item!r}")
            return EXIT_USAGE
        stores[database] = url
    options: dict[str, Any] = {"retention": retention_of(args), **service_options(args)}
    if stores:
        options["stores"] = stores
    server = _Server(args.data_dir, roles, apps, args.supervisor_pid, options)
    with StopSignals() as stop:
        try:
            return anyio.run(server.serve, stop)
        except WriterLockError as exc:
            role = _role_of(topology, exc.path)
            print_error(
                f"cannot host role {role!r}: {exc.path} already has a writer: {exc.holder} "
                "holds its lock. Stop that process first (each role runs in one process "
                "at a time)"
            )
            return EXIT_LOCKED
        except (TradebusError, OSError) as exc:
            print_error(f"the node of {', '.join(roles)} failed: {exc}")
            return EXIT_FAILED


def _describe(error: BaseException) -> str:
    """``Type: message`` of an error, or of the first error in a group (the app's task
    group wraps what one of its tasks raised)."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(error)
    first = leaves[0] if leaves else error
    more = f" (and {len(leaves) - 1} more, see the log)" if len(leaves) > 1 else ""
    return f"{type(first).__name__}: {first}{more}"


def _role_of(topology: Topology, path: str) -> str:
    name = Path(path).name
    for role, spec in topology.owners.items():
        if spec.filename == name:
            return role
    return "?"


class _Server:
    """The node of one ``tradebus run``, its app, and the wait for a stop."""

    def __init__(
        self,
        data_dir: Path,
        roles: tuple[str, ...],
        apps: dict[str, App],
        supervisor_pid: int | None,
        options: dict[str, Any],
    ) -> None:
        self.data_dir = data_dir
        #: What ``open_node`` is given besides the roles.
        self.options = options
        self.roles = roles
        self.apps = apps
        self.supervisor_pid = supervisor_pid
        #: The first app that raised, and its error.
        self.failed: tuple[str, BaseException] | None = None

    async def serve(self, stop: StopSignals) -> int:
        started = time.monotonic()
        async with open_node(self.data_dir, roles=self.roles, **self.options) as node:
            self._say_started(node)
            async with anyio.create_task_group() as tg:
                for name, app in self.apps.items():
                    tg.start_soon(self._host_app, name, app, node)
                why = await self._wait_for_stop(stop)
                tg.cancel_scope.cancel()
            logger.info("stopping (%s): committing what is held", why)
        # Read once the node is closed: what the drain committed is counted too.
        statistics = node.statistics()
        writers = statistics.writers
        events = sum(w.events for w in writers.values())
        per_db = ", ".join(f"{name} {w.events:,}" for name, w in writers.items())
        relayed = sum(r.delivered for r in statistics.relays.values())
        from_others = f"; {relayed:,} delivered from other processes" if relayed else ""
        print(
            f"tradebus run: stopped ({why}) after {time.monotonic() - started:.1f} s, "
            f"pid {os.getpid()}: {events:,} events written ({per_db}){from_others}",
            flush=True,
        )
        if self.failed is not None:
            name, error = self.failed
            print_error(
                f"app {name} failed: {_describe(error)}; what it logged before is committed"
            )
            return EXIT_FAILED
        return EXIT_OK

    def _say_started(self, node: Node) -> None:
        owned = ", ".join(
            f"{role} ({node.topology.owned_by(role).filename})" for role in self.roles
        )
        app = "".join(f", app {name}" for name in self.apps)
        print(
            f"tradebus run: serving {owned}{app}; pid {os.getpid()}, data dir "
            f"{self.data_dir}; SIGINT or SIGTERM stops it",
            flush=True,
        )

    async def _wait_for_stop(self, stop: StopSignals) -> str:
        while True:
            if stop.first is not None:
                return signal.Signals(stop.first).name
            if self.failed is not None:
                return f"app {self.failed[0]} failed"
            if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
                return f"the supervisor (pid {self.supervisor_pid}) is gone"
            await anyio.sleep(_POLL)

    async def _host_app(self, name: str, app: App, node: Node) -> None:
        logger.info("app %s started", name)
        try:
            await app(node)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # sys.exit(), KeyboardInterrupt too: the app failed
            logger.exception("app %s failed: %s", name, exc)
            if self.failed is None:
                self.failed = (name, exc)
            return
        logger.info("app %s returned; serving on until SIGINT or SIGTERM", name)
