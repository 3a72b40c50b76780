"""Every request, logged to ``api_logs`` through the bus, never delaying a response.

Each request served by a route of the API becomes an :class:`~schemas.ApiLog` event:
when it arrived, its method, the route's path template
(``/api/v1/positions/{ticket}``: never the raw path, nor its query string, which may
carry a token), its status, its duration and the client's address. It is published
with ``publish_nowait`` once the response is sent: the request never waits for the
database. When the bus has no room
(backpressure) or refuses the line, the line is dropped and counted
(:class:`RequestLogStats`), and the request goes on as if nothing happened.

Scrapes of ``/metrics`` are not logged: a scraper calls it every few seconds for
ever, which would fill ``api_logs`` with lines that say nothing (the metrics count
themselves).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Middleware, Receive, Scope, Send

from eventbus import BusFull
from schemas import ApiLog

if TYPE_CHECKING:
    from ._context import ApiContext

__all__ = ["UNLOGGED_PATHS", "RequestLog", "RequestLogStats", "request_log_middleware"]

logger = logging.getLogger("tradebus.api")

#: The route templates whose requests are not logged.
UNLOGGED_PATHS: Final = frozenset({"/metrics"})

#: The status logged for a request whose client went away before any response.
CLIENT_GONE: Final = 499


@dataclass
class RequestLogStats:
    """The request log's counters, for ``/metrics``."""

    #: Lines published (on their way to ``api_logs``).
    logged: int = 0
    #: Lines dropped because the bus had no room for them (backpressure).
    dropped: int = 0
    #: Lines dropped because the bus refused them otherwise (the node stops, ...).
    failed: int = 0


class RequestLog(ASGIMiddleware):
    """The middleware that logs every request of the server over ``ctx``."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.stats = ctx.request_log

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        arrived = time.time_ns()
        started = time.perf_counter_ns()
        status = CLIENT_GONE

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, sending)
        except Exception:
            if status == CLIENT_GONE:
                status = 500
            raise
        finally:
            self._log(scope, status, arrived, time.perf_counter_ns() - started)

    def _log(self, scope: Scope, status: int, arrived: int, elapsed_ns: int) -> None:
        """Publish the request's line; never raise (it runs in every request's end)."""
        try:
            path = scope.get("path_template") or scope.get("path", "?")
            if path in UNLOGGED_PATHS:
                return
            client = scope.get("client")
            line = ApiLog(
                method=str(scope.get("method", "GET")),
                path=path,
                status_code=status,
                duration_ms=elapsed_ns / 1e6,
                client=client[0][:256] if client else "",
                ts=arrived,
            )
            self.ctx.node.bus.publish_nowait(line)
        except BusFull:
            self.stats.dropped += 1
            return
        except Exception as exc:
            self.stats.failed += 1
            if self.stats.failed == 1:  # say it once: it repeats for every request
                logger.warning("api: a request's line was not logged to api_logs: %s", exc)
            return
        self.stats.logged += 1


def request_log_middleware(ctx: ApiContext) -> list[Middleware]:
    """The middleware that logs every request of the server over ``ctx``."""
    return [RequestLog(ctx)]
