"""The API server's command line: ``--http HOST:PORT`` for ``tradebus run``, and
``tradebus serve``: the ``api_server`` role with its HTTP API."""

from __future__ import annotations

import argparse
from typing import Any

from ._apps import App
from ._cli_contracts import contract_size_argument
from .api import ApiOptions, http_app, listen, read_token

__all__ = ["add_serve_parser", "http_app_of", "http_arguments"]

#: The address ``tradebus serve`` binds by default: loopback, freqtrade's port.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def http_arguments(parser: argparse.ArgumentParser, *, address: bool = True) -> None:
    """Add ``--http HOST:PORT`` (with ``address``), ``--api-token-file`` and
    ``--api-auth-reads`` to ``parser``."""
    if address:
        parser.add_argument(
            "--http",
            type=_address,
            default=None,
            metavar="HOST:PORT",
            help="serve the HTTP API (reads, intake, /metrics, the dashboard) on HOST:PORT "
            f"(for example {DEFAULT_HOST}:{DEFAULT_PORT}; port 0 takes a free one)",
        )
    parser.add_argument(
        "--api-token-file",
        default=None,
        metavar="FILE",
        help="the bearer token the API asks of callers, from the first line of FILE "
        "(default: the TRADEBUS_API_TOKEN environment variable; neither: no token)",
    )
    parser.add_argument(
        "--api-auth-reads",
        action="store_true",
        help="ask the token for reads too (by default only intake needs it)",
    )


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT (for example {DEFAULT_HOST}:{DEFAULT_PORT}; "
            "the port 0 to 65535)"
        )
    return host, int(port)


def http_app_of(args: argparse.Namespace) -> App | None:
    """The API server's app from the parsed ``args`` (None without ``--http``).

    The address is bound here, before the node starts: one in use is refused at once.

    :raises ApiOptionError: if the token cannot be read, or the address bound.
    """
    address: tuple[str, int] | None = getattr(args, "http", None)
    if address is None:
        return None
    host, port = address
    options = ApiOptions(
        host=host,
        port=port,
        token=read_token(args.api_token_file),
        auth_reads=args.api_auth_reads,
    )
    return http_app(options, listen(host, port))


def add_serve_parser(commands: Any) -> None:
    """Add ``tradebus serve``: ``tradebus run --role api_server`` with its app and the
    HTTP API."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="host the api_server role with its HTTP API until SIGINT/SIGTERM",
        description=(
            "Host the api_server role (the only writer of system_logs.db) with its app "
            "and the HTTP API: reads of the three databases, event intake, /metrics and "
            f"a live dashboard, on {DEFAULT_HOST}:{DEFAULT_PORT} by default. Same exit "
            "status as 'tradebus run'."
        ),
    )
    from ._cli_args import data_dir_argument
    from ._cli_run import run
    from ._retention_args import retain_argument

    data_dir_argument(parser)
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default: {DEFAULT_HOST}")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"default: {DEFAULT_PORT}; 0 takes a free one",
    )
    http_arguments(parser, address=False)
    retain_argument(parser)
    contract_size_argument(parser)  # the API's unrealized P&L is computed with them
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the least level of log lines written to stderr (default: INFO)",
    )

    def serve(args: argparse.Namespace, console: Any) -> int:
        if not 0 <= args.port <= 65535:
            parser.error(f"argument --port: {args.port} is not a port (0 to 65535)")
        args.http = (args.host, args.port)
        args.roles = ["api_server"]
        args.apps = ["tradebus.role_apps:api_server"]
        args.supervisor_pid = None
        args.candles, args.candle_price, args.monitor = (), "bid", "off"
        return int(run(args, console))

    parser.set_defaults(handler=serve)
