"""Operations events, on ``logs.*`` topics: what is observed of live trades, alerts,
the requests an API served and the health beats of components."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from ._event_base import NEW_ID, Event
from ._time import now_ns
from ._topics import symbol_token
from ._types import (
    AlertType,
    HealthStatus,
    HttpMethod,
    HttpStatus,
    Json,
    LongText,
    Name,
    NonNegative,
    Severity,
    ShortText,
    Symbol,
    Ticket,
    Timestamp,
    UrlPath,
)

__all__ = ["ApiLog", "SystemHealth", "TradeAlert", "TradeMonitoring"]


class TradeMonitoring(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """Something observed about a live trade (stop loss hit, trailing stop moved, ...)."""

    topic_prefix: ClassVar[str] = "logs.monitoring"

    ticket: Ticket
    symbol: Symbol
    monitoring_type: Name
    status: Name
    details: LongText = ""
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"logs.monitoring.{symbol_token(self.symbol)}"


class TradeAlert(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A risk, profit or system alert."""

    topic_prefix: ClassVar[str] = "logs.alert"

    alert_type: AlertType
    severity: Severity
    message: LongText
    symbol: Symbol | None = None
    ticket: Ticket | None = None
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"logs.alert.{self.severity}"


class ApiLog(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """One request served by an API."""

    topic_prefix: ClassVar[str] = "logs.api"

    method: HttpMethod
    path: UrlPath
    status_code: HttpStatus
    duration_ms: NonNegative
    client: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"logs.api.{symbol_token(self.method)}"


class SystemHealth(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A health beat of one component."""

    topic_prefix: ClassVar[str] = "logs.health"

    component: Name
    status: HealthStatus
    details: Json = msgspec.field(default_factory=dict)
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    event_id: Name = NEW_ID

    @property
    def topic(self) -> str:
        return f"logs.health.{symbol_token(self.component)}"
