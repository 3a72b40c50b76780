"""``GET /metrics``: the writers', relays', processes' and HTTP server's figures in
Prometheus's text format."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler, Middleware

from ._context import ApiContext

__all__ = ["METRICS_HANDLERS", "metrics_middleware"]

METRICS_HANDLERS: list[ControllerRouterHandler] = []


def metrics_middleware(ctx: ApiContext) -> list[Middleware]:
    """The middleware that counts and times the requests of the server over ``ctx``."""
    return []
