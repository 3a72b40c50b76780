"""The read endpoints under ``/api/v1``: every one guarded by the reads' token check.

Lists answer ``{"items": [...], "next_cursor": ...}`` (see :mod:`._pages`); every time
is given in ns and as ISO-8601 UTC (see :mod:`._views_base`).
"""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from ._auth import require_token_for_reads
from ._routes_logs import LOG_HANDLERS
from ._routes_market import MARKET_HANDLERS
from ._routes_params import PREFIX
from ._routes_trades import TRADE_HANDLERS

__all__ = ["READ_HANDLERS"]

READ_HANDLERS: list[ControllerRouterHandler] = [
    Router(
        path=PREFIX,
        route_handlers=[*MARKET_HANDLERS, *TRADE_HANDLERS, *LOG_HANDLERS],
        guards=[require_token_for_reads],
        tags=["reads"],
    )
]
