"""``GET /metrics``: the writers', relays', processes' and HTTP server's figures in
Prometheus's text format."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler, Middleware, Scope
from prometheus_client import CollectorRegistry, generate_latest

from .._exceptions import TradebusError
from .._status import StatusFile
from .._status_file import read_status
from ._auth import require_token_for_reads
from ._context import ApiContext
from ._metrics_collect import MetricsCollector, Snapshot, role_label
from ._metrics_http import HttpStats, TimingMiddleware

__all__ = ["MEDIA_TYPE", "METRICS_HANDLERS", "ServerMetrics", "metrics_middleware"]

logger = logging.getLogger("tradebus")

#: Prometheus's text exposition format (Litestar adds ``; charset=utf-8``).
MEDIA_TYPE = "text/plain; version=0.0.4"
_STATE_KEY = "metrics"


class ServerMetrics:
    """The server's own registry (never the process-wide one): one collector that
    reads the figures at scrape time, and the HTTP requests' counters."""

    def __init__(self) -> None:
        self.http = HttpStats()
        self.collector = MetricsCollector(self.http)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        #: The status file's last error, said once (a scraper asks every few seconds).
        self._status_error: str | None = None

    async def scrape(self, ctx: ApiContext) -> bytes:
        """The text exposition of every figure, as of now."""
        node = ctx.node
        status: StatusFile | None
        error: str | None = None
        try:
            status = await anyio.to_thread.run_sync(read_status, node.data_dir)
        except TradebusError as exc:
            status, error = None, str(exc)
            if error != self._status_error:
                logger.warning("/metrics: %s; the processes' figures are left out", exc)
        self._status_error = error
        log = ctx.request_log
        # No await from here on: the snapshot and the text are of one moment.
        self.collector.load(
            Snapshot(
                node=node.statistics(),
                own_id="" if node.status is None else node.status.id,
                own_role=role_label(node.roles),
                status=status,
                status_error=error,
                started=ctx.started,
                now=time.time_ns(),
                request_log=(log.logged, log.dropped, log.failed),
            )
        )
        try:
            return generate_latest(self.registry)
        finally:
            self.collector.load(None)


def server_metrics(state: State) -> ServerMetrics:
    """The server's metrics, kept in the application's state (made on first use)."""
    metrics = state.get(_STATE_KEY)
    if not isinstance(metrics, ServerMetrics):
        metrics = ServerMetrics()
        state[_STATE_KEY] = metrics
    return metrics


@get(
    "/metrics",
    guards=[require_token_for_reads],
    media_type=MEDIA_TYPE,
    summary="The server's figures for Prometheus",
    description=(
        "Prometheus's text format (version 0.0.4): this process's writers (events, "
        "rows, commit durations, batch sizes, queue depth, retries, dead letters), "
        "every process of the data directory (heartbeat age, state, writers, relays' "
        "lag) and the HTTP requests (counts and durations by method, route and status)."
    ),
    tags=["metrics"],
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    # The context comes from the application's state, not as the ``ctx`` dependency:
    # the signature model would try to decode the dataclass (and its Node hint).
    state = request.app.state
    body = await server_metrics(state).scrape(state["ctx"])
    return Response(body, media_type=MEDIA_TYPE)


METRICS_HANDLERS: list[ControllerRouterHandler] = [metrics]


def metrics_middleware(ctx: ApiContext) -> list[Middleware]:
    """The middleware that counts and times the requests of the server over ``ctx``
    (into the metrics kept in its application's state, which ``/metrics`` reads)."""
    del ctx  # the application's state holds what the middleware and /metrics share
    return [DefineMiddleware(TimingMiddleware, stats_of=_http_stats)]


def _http_stats(scope: Scope) -> HttpStats:
    return server_metrics(scope["app"].state).http
