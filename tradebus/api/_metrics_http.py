"""The HTTP server's figures: requests counted and timed by method, path template
and status, kept by an ASGI middleware."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DURATION_BUCKETS", "HttpKey", "HttpSeries", "HttpStats", "TimingMiddleware"]

#: The upper bounds (seconds, inclusive) of the request-duration histogram's buckets.
DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class HttpKey(NamedTuple):
    method: str
    #: The route's template (``/api/v1/positions/{ticket}``), never the raw path.
    path: str
    status: str


@dataclass
class HttpSeries:
    """The requests of one method, path template and status."""

    count: int = 0
    seconds: float = 0.0
    #: Requests per duration bucket (not cumulative; the last: slower than every bound).
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))


class HttpStats:
    """Every request the server answered, and those it is answering."""

    def __init__(self) -> None:
        self.series: dict[HttpKey, HttpSeries] = {}
        self.in_progress = 0

    def record(self, method: str, path: str, status: int, seconds: float) -> None:
        key = HttpKey(method, path, str(status))
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = HttpSeries()
        series.count += 1
        series.seconds += seconds
        series.buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1


class TimingMiddleware:
    """An ASGI middleware (Litestar builds one per route) that counts and times each
    HTTP request into the stats ``stats_of`` gives for its scope: from its arrival
    until the last byte of its response was handed to the server (a request that
    ended without a whole response counts with the status it started, or as a 500)."""

    def __init__(self, app: ASGIApp, stats_of: Callable[[Scope], HttpStats]) -> None:
        self.app = app
        self.stats_of = stats_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        stats = self.stats_of(scope)
        method = str(scope.get("method", ""))
        template = scope.get("path_template") or ""
        start = time.perf_counter()
        status = 500
        done = False

        async def timed_send(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done = True
                stats.record(method, template, status, time.perf_counter() - start)
            await send(message)

        stats.in_progress += 1
        try:
            await self.app(scope, receive, timed_send)
        finally:
            stats.in_progress -= 1
            if not done:  # no whole response: the handler failed, or the client left
                stats.record(method, template, status, time.perf_counter() - start)
