"""``GET /metrics``: the writers', relays', processes' and HTTP server's figures in
Prometheus's text format."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

__all__ = ["METRICS_HANDLERS"]

METRICS_HANDLERS: list[ControllerRouterHandler] = []
