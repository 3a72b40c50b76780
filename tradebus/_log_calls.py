"""The log-only calls: monitoring notes, alerts, API requests and health beats, which
name no committed state and are stored as given."""

from __future__ import annotations

from typing import Any

from schemas import (
    AlertType,
    ApiLog,
    HealthStatus,
    Severity,
    SystemHealth,
    TradeAlert,
    TradeMonitoring,
)

from ._calls import IntegrationCalls

__all__ = ["LogCalls"]


class LogCalls(IntegrationCalls):
    """The calls of :class:`~tradebus.TradeIntegration` that only log."""

    # -------------------------------------------------------------------- logs

    async def log_trade_monitoring(
        self,
        *,
        ticket: int,
        symbol: str,
        monitoring_type: str,
        status: str,
        details: str = "",
        event_id: str | None = None,
    ) -> str:
        """Log something observed about a live trade; return its ``event_id``."""
        return await self._record(
            TradeMonitoring,
            event_id,
            ticket=ticket,
            symbol=symbol,
            monitoring_type=monitoring_type,
            status=status,
            details=details,
        )

    async def log_trade_alert(
        self,
        *,
        alert_type: AlertType,
        severity: Severity,
        message: str,
        symbol: str | None = None,
        ticket: int | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log a risk, profit or system alert; return its ``event_id``."""
        return await self._record(
            TradeAlert,
            event_id,
            alert_type=alert_type,
            severity=severity,
            message=message,
            symbol=symbol,
            ticket=ticket,
        )

    async def log_api_request(
        self,
        *,
        method: str,
        path: str,
        status_code: int,
        duration_ms: float,
        client: str = "",
        event_id: str | None = None,
    ) -> str:
        """Log one API request; return its ``event_id``."""
        return await self._record(
            ApiLog,
            event_id,
            method=method,
            path=path,
            status_code=status_code,
            duration_ms=duration_ms,
            client=client,
        )

    async def log_system_health(
        self,
        *,
        component: str,
        status: HealthStatus,
        details: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log a health beat of ``component``; return its ``event_id``."""
        return await self._record(
            SystemHealth,
            event_id,
            component=component,
            status=status,
            details={} if details is None else details,
        )
