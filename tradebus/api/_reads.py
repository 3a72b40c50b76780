"""The read endpoints under ``/api/v1``."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

__all__ = ["READ_HANDLERS"]

READ_HANDLERS: list[ControllerRouterHandler] = []
