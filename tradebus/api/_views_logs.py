"""What the log endpoints answer: trade monitoring, alerts and component health."""

from __future__ import annotations

from typing import Any, Literal

from ._views_base import Iso, NextCursor, Ns, View

__all__ = ["AlertPage", "AlertView", "HealthPage", "HealthView", "MonitoringPage", "MonitoringView"]


class MonitoringView(View, frozen=True, kw_only=True):
    """A trade-monitoring event (newest first)."""

    ticket: int
    symbol: str
    monitoring_type: str
    status: str
    details: str
    event_id: str
    ts: Ns
    time: Iso


class MonitoringPage(View, frozen=True, kw_only=True):
    items: list[MonitoringView]
    next_cursor: NextCursor


class AlertView(View, frozen=True, kw_only=True):
    """A trade alert (newest first)."""

    alert_type: Literal["risk", "profit", "system"]
    severity: Literal["info", "warning", "critical"]
    message: str
    symbol: str | None
    ticket: int | None
    event_id: str
    ts: Ns
    time: Iso


class AlertPage(View, frozen=True, kw_only=True):
    items: list[AlertView]
    next_cursor: NextCursor


class HealthView(View, frozen=True, kw_only=True):
    """A component's latest health report."""

    component: str
    status: Literal["ok", "degraded", "down"]
    details: dict[str, Any]
    event_id: str
    ts: Ns
    time: Iso


class HealthPage(View, frozen=True, kw_only=True):
    items: list[HealthView]
    next_cursor: NextCursor
