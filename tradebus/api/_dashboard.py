"""``GET /``: the live dashboard, and its files (shipped inside the package)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

__all__ = ["DASHBOARD_HANDLERS"]

DASHBOARD_HANDLERS: list[ControllerRouterHandler] = []
