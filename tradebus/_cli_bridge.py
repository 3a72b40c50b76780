"""``tradebus bridge forward|consume``: the NATS JetStream bridge in a process of its
own, hosting the roles it needs, until SIGINT/SIGTERM (then it drains and reports)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from rich.console import Console

from writers import WriterLockError

from ._cli_args import data_dir_argument
from ._cli_run import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, print_error
from ._exceptions import TradebusError
from ._node import ensure_data_dir
from ._open_node import open_node
from ._signals import StopSignals
from ._stats import check_data_dir
from ._topology import Topology
from .bridge import JetStreamConsumer, JetStreamForwarder
from .bridge._options import check_url

__all__ = ["add_parser"]

logger = logging.getLogger("tradebus.bridge")
_POLL = 0.1
#: How often the running bridge logs its statistics (seconds).
REPORT_EVERY = 10.0


def add_parser(commands: Any) -> None:
    """Add ``tradebus bridge`` to the CLI's subcommands."""
    bridge: argparse.ArgumentParser = commands.add_parser(
        "bridge", help="forward events to NATS JetStream, or consume them from it"
    )
    actions = bridge.add_subparsers(dest="action", metavar="ACTION", required=True)
    topology = Topology.default()
    forward = actions.add_parser(
        "forward",
        help="host ROLEs and forward their bus's events to JetStream until SIGINT/SIGTERM",
        description=(
            "Host ROLEs (each the only writer of its database) and forward the events "
            "their bus carries (those relayed from other processes' outboxes included) "
            "to one JetStream stream per database. Exit status: 0 stopped by a signal, "
            "1 failed, 2 bad arguments, 3 a role's database has a writer already."
        ),
    )
    consume = actions.add_parser(
        "consume",
        help="consume a JetStream stream into its database until SIGINT/SIGTERM",
        description=(
            "Host the owner of DATABASE and commit the events of its JetStream stream "
            "into it, exactly once. Exit status as for 'bridge forward'."
        ),
    )
    for parser in (forward, consume):
        data_dir_argument(parser)
        parser.add_argument("--nats", required=True, metavar="URL", help="the NATS server")
        parser.add_argument(
            "--prefix", default="", help="a subject prefix of this system's (default: none)"
        )
        parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
        parser.set_defaults(handler=_run)
    forward.add_argument(
        "--role", dest="roles", action="append", required=True, metavar="ROLE",
        help="a role to host (repeat for several): " + ", ".join(topology.roles),
    )  # fmt: skip
    forward.add_argument(
        "--topic", dest="topics", action="append", metavar="PATTERN",
        help="a topic pattern to forward (repeat; default: every database's topics)",
    )  # fmt: skip
    forward.add_argument("--lanes", type=int, default=32, help="publishes awaited at once")
    forward.add_argument(
        "--max-in-flight", type=int, default=4096, help="messages taken and not yet stored"
    )
    consume.add_argument(
        "--database", default="main", choices=[s.name for s in topology.databases],
        help="the database to consume into (its owner role is hosted; default: main)",
    )  # fmt: skip
    consume.add_argument("--stream", default=None, help="default: TRADEBUS_[PREFIX_]DATABASE")
    consume.add_argument("--durable", default="tradebus", help="the durable consumer's name")
    consume.add_argument("--batch", type=int, default=500, help="messages fetched at once")


def _run(args: argparse.Namespace, console: Console) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    topology = Topology.default()
    if args.action == "forward":
        roles = tuple(dict.fromkeys(args.roles))
        unknown = [role for role in roles if role not in topology.roles]
        if unknown:
            print_error(f"unknown role {unknown[0]!r}: the roles are {', '.join(topology.roles)}")
            return EXIT_USAGE
    else:
        roles = (topology.owner(topology.spec(args.database)),)
    try:
        check_url(args.nats)  # before anything is opened
        check_data_dir(args.data_dir, must_exist=False)
        ensure_data_dir(args.data_dir)
    except TradebusError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    with StopSignals() as stop:
        try:
            return anyio.run(_serve, args, roles, stop)
        except WriterLockError as exc:
            print_error(f"{exc.path} already has a writer ({exc.holder}): stop that process first")
            return EXIT_LOCKED
        except ValueError as exc:  # an option the bridge refused (it names it)
            print_error(str(exc))
            return EXIT_USAGE
        except (TradebusError, OSError) as exc:
            print_error(f"the bridge failed: {exc}")
            return EXIT_FAILED


async def _serve(args: argparse.Namespace, roles: tuple[str, ...], stop: StopSignals) -> int:
    async with open_node(args.data_dir, roles=roles) as node, _bridge(args, node) as bridge:
        logger.info("bridge %s: running (%s); stop with SIGINT or SIGTERM", args.action, args.nats)
        reported = anyio.current_time()
        while stop.first is None:
            await anyio.sleep(_POLL)
            if anyio.current_time() - reported >= REPORT_EVERY:
                reported = anyio.current_time()
                logger.info("bridge %s: %s", args.action, _line(bridge.statistics()))
    logger.info("bridge %s: stopped: %s", args.action, _line(bridge.statistics()))
    return EXIT_OK


@contextlib.asynccontextmanager
async def _bridge(
    args: argparse.Namespace, node: Any
) -> AsyncIterator[JetStreamForwarder | JetStreamConsumer]:
    if args.action == "forward":
        async with JetStreamForwarder(
            node, args.nats, topics=args.topics, prefix=args.prefix, lanes=args.lanes,
            max_in_flight=args.max_in_flight,
        ) as forwarder:  # fmt: skip
            yield forwarder
    else:
        async with JetStreamConsumer(
            node, args.nats, database=args.database, stream=args.stream, durable=args.durable,
            prefix=args.prefix, batch=args.batch,
        ) as consumer:  # fmt: skip
            yield consumer


def _line(statistics: tuple[Any, ...]) -> str:
    fields = getattr(statistics, "_fields", ())
    return ", ".join(f"{name}={value}" for name, value in zip(fields, statistics, strict=False))
