"""The HTTP server inside a node's process: uvicorn, on the node's event loop."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
import uvicorn
from anyio.abc import TaskGroup

from ._app import create_app
from ._context import ApiContext
from ._options import ApiOptionError, ApiOptions

if TYPE_CHECKING:
    from .._apps import App
    from .._node import Node

__all__ = ["ApiServer", "http_app", "listen"]

logger = logging.getLogger("tradebus.api")

#: Seconds the requests in flight get to finish when the server stops.
SHUTDOWN_TIMEOUT = 5


class _Uvicorn(uvicorn.Server):
    """uvicorn, leaving the process's signals to the node's process (which stops the
    server when it stops)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """``async with ApiServer(node, options) as server:`` serves the API over ``node``
    on ``options.host:options.port`` until the block ends.

    :raises ApiOptionError: on entry, if the address cannot be bound (in use, not an
        address of this host, a privileged port).
    """

    def __init__(
        self, node: Node, options: ApiOptions | None = None, *, sock: socket.socket | None = None
    ) -> None:
        """:param sock: a socket bound already (see :func:`listen`) to serve on, instead
        of binding ``options.host:options.port`` on entry."""
        self.options = options or ApiOptions()
        self._given = sock
        self.context = ApiContext(node=node, options=self.options)
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: _Uvicorn | None = None
        self._task_group: TaskGroup | None = None
        self._stopped = anyio.Event()

    @property
    def port(self) -> int:
        """The port it listens on (the one taken, when ``options.port`` is 0)."""
        if self._port is None:
            raise RuntimeError("the API server has not started")
        return self._port

    @property
    def url(self) -> str:
        host = self.options.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    async def __aenter__(self) -> Self:
        sock = self._given or listen(self.options.host, self.options.port)
        config = uvicorn.Config(
            create_app(self.context),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
        )
        server = _Uvicorn(config)
        self._socket, self._server = sock, server
        self._port = int(sock.getsockname()[1])
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._serve, server, sock)
        try:
            while not server.started:  # serving once the loop has run its startup
                if server.should_exit:
                    break
                await anyio.sleep(0.005)
        except BaseException:  # cancelled while starting: leave nothing behind
            server.should_exit = server.force_exit = True
            task_group.cancel_scope.cancel()
            try:
                await task_group.__aexit__(None, None, None)
            finally:
                self._task_group = None
                sock.close()
                self.context.reads.close()
            raise
        logger.info("api: listening on %s", self.url)
        reporter = self.context.node.status
        if reporter is not None:  # the status file says where the API is
            reporter.http = self.url
            reporter.refresh()
        return self

    async def _serve(self, server: _Uvicorn, sock: socket.socket) -> None:
        try:
            await server.serve([sock])
        finally:
            self._stopped.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, task_group = self._server, self._task_group
        assert server is not None
        assert task_group is not None
        reporter = self.context.node.status
        if reporter is not None and reporter.http == self.url:
            reporter.http = None
            reporter.refresh()
        server.should_exit = True  # it stops accepting, lets the requests in flight end
        try:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(SHUTDOWN_TIMEOUT + 1):
                    await self._stopped.wait()
            if not self._stopped.is_set():
                server.force_exit = True
                task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            if self._socket is not None:
                self._socket.close()
            self._task_group = None
            self.context.reads.close()  # the idle read-only connections


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, for :class:`ApiServer`.

    :raises ApiOptionError: if the address cannot be bound, saying why.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "the port is in use (another server listens there; pick another --port)"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
        else:
            why = exc.strerror or str(exc)
        raise ApiOptionError(f"cannot listen on {host}:{port}: {why}") from exc
    # Passed on to the connections it accepts (asyncio sets it only on sockets made
    # with IPPROTO_TCP): without it, an answer on a kept-alive connection waits for the
    # client's delayed acknowledgement (about 40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def http_app(options: ApiOptions, sock: socket.socket | None = None) -> App:
    """An app (``async def app(node)``) that serves the API over the node until it is
    cancelled, and prints where (``tradebus: the API listens on URL``).

    :param sock: the socket to serve on, bound already (see :func:`listen`), so that
        an address in use is refused before the node starts.
    """

    async def serve_http(node: Node) -> None:
        async with ApiServer(node, options, sock=sock) as server:
            print(f"tradebus: the API listens on {server.url}", flush=True)
            await anyio.sleep_forever()

    return serve_http
