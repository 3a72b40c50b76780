"""``POST /api/v1/events``: events from outside, validated and routed to their owner."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

__all__ = ["INTAKE_HANDLERS"]

INTAKE_HANDLERS: list[ControllerRouterHandler] = []
