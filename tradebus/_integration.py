"""The trade-integration API: one call per step of a trade's life, returning once committed."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import anyio

import schemas
from schemas import (
    AnalysisResult,
    ApiLog,
    Event,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from writers import PositionRecord, RecommendationRecord, queries

from ._exceptions import TradebusError

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["TradeIntegration", "outcome_of"]


def outcome_of(realized_pnl: float) -> str:
    """``win``, ``loss`` or ``breakeven`` for a realized profit and loss."""
    if realized_pnl > 0:
        return "win"
    if realized_pnl < 0:
        return "loss"
    return "breakeven"


class TradeIntegration:
    """Logs the trade lifecycle as ``role``; every ``log_*`` returns once committed.

    Where an event is stored is decided by its type's home database, not by the role
    that logs it. Get one with :meth:`Node.integration`.
    """

    def __init__(self, node: Node, role: str) -> None:
        self.node = node
        self.role = role

    async def _log(self, *events: Event) -> None:
        """Publish ``events`` and return once each is committed by its own writer (a
        writer that is stuck on another database does not hold them; when they go to
        several databases, those commit in parallel); refuse them all, before anything
        is enqueued, if one has no route.
        """
        for event in events:
            self.node.check_route(event)
        publish = self.node.bus.publish
        if len(events) == 1:
            await publish(events[0], wait=True)
            return
        try:
            async with anyio.create_task_group() as tg:
                for event in events:
                    tg.start_soon(functools.partial(publish, event, wait=True))
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    async def _record(self, event_type: type[Event], **fields: Any) -> str:
        """Build (validate), log and return the ``event_id`` of one event."""
        event = schemas.build(event_type, **fields)
        await self._log(event)
        return str(event.event_id)  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- analysis

    async def log_trade_recommendation(
        self,
        *,
        symbol: str,
        direction: str,
        entry_price: float,
        stop_loss: float,
        take_profit: float,
        confidence: float,
        reasoning: str = "",
        timeframe: str = "",
        source: str = "",
        recommendation_id: str | None = None,
        ts: int | None = None,
    ) -> str:
        """Log a recommendation (status ``pending``); return its ``recommendation_id``.

        :raises InvalidEvent: on bad arguments (nothing is enqueued).
        """
        fields: dict[str, Any] = {
            "symbol": symbol,
            "direction": direction,
            "entry_price": entry_price,
            "stop_loss": stop_loss,
            "take_profit": take_profit,
            "confidence": confidence,
            "reasoning": reasoning,
            "timeframe": timeframe,
            "source": source or self.role,
        }
        _optional(fields, recommendation_id=recommendation_id, ts=ts)
        event = schemas.build(TradeRecommendation, **fields)
        await self._log(event)
        return event.recommendation_id

    async def update_recommendation(
        self,
        *,
        recommendation_id: str,
        status: str,
        ticket: int | None = None,
        outcome: str | None = None,
        realized_pnl: float | None = None,
    ) -> str:
        """Move a recommendation to ``status`` (``rejected``, ``expired``, ...); return the
        update's ``event_id``."""
        return await self._record(
            RecommendationUpdate,
            recommendation_id=recommendation_id,
            status=status,
            ticket=ticket,
            outcome=outcome,
            realized_pnl=realized_pnl,
        )

    async def log_trade_analysis(
        self,
        *,
        symbol: str,
        timeframe: str,
        regime: str,
        confluence_score: float,
        indicators: dict[str, Any] | None = None,
    ) -> str:
        """Log a market analysis; return its ``event_id``."""
        return await self._record(
            TradeAnalysis,
            symbol=symbol,
            timeframe=timeframe,
            regime=regime,
            confluence_score=confluence_score,
            indicators={} if indicators is None else indicators,
        )

    async def log_analysis_result(
        self, *, kind: str, payload: dict[str, Any] | None = None, symbol: str | None = None
    ) -> str:
        """Log any other analysis result; return its ``event_id``."""
        return await self._record(
            AnalysisResult, kind=kind, payload={} if payload is None else payload, symbol=symbol
        )

    # ----------------------------------------------------------------- trading

    async def log_trade_execution(
        self,
        *,
        ticket: int,
        symbol: str,
        direction: str,
        entry_price: float,
        volume: float,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        recommendation_id: str | None = None,
        comment: str = "",
        ts: int | None = None,
    ) -> str:
        """Log an executed trade (it opens position ``ticket``); return its ``event_id``.

        Naming the ``recommendation_id`` it follows marks that recommendation executed.
        """
        fields: dict[str, Any] = {
            "ticket": ticket,
            "symbol": symbol,
            "direction": direction,
            "entry_price": entry_price,
            "volume": volume,
            "stop_loss": stop_loss,
            "take_profit": take_profit,
            "recommendation_id": recommendation_id,
            "comment": comment,
        }
        _optional(fields, ts=ts)
        execution = schemas.build(TradeExecution, **fields)
        events: list[Event] = [execution]
        if recommendation_id is not None:
            events.append(
                schemas.build(
                    RecommendationUpdate,
                    recommendation_id=recommendation_id,
                    status="executed",
                    ticket=ticket,
                )
            )
        await self._log(*events)
        return execution.event_id

    async def update_position(
        self,
        *,
        ticket: int,
        symbol: str,
        current_price: float,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        unrealized_pnl: float | None = None,
        volume: float | None = None,
    ) -> str:
        """Log a change of an open position (price, stops, P&L); return its ``event_id``."""
        return await self._record(
            PositionUpdate,
            ticket=ticket,
            symbol=symbol,
            status="modified",
            current_price=current_price,
            stop_loss=stop_loss,
            take_profit=take_profit,
            unrealized_pnl=unrealized_pnl,
            volume=volume,
        )

    async def close_position(
        self,
        *,
        ticket: int,
        symbol: str,
        close_price: float,
        realized_pnl: float | None = None,
    ) -> str:
        """Log the close of position ``ticket``; return its ``event_id``.

        With a ``realized_pnl``, the recommendation the trade followed (if any) is
        marked closed with its outcome (win, loss, breakeven) and P&L.
        """
        close = schemas.build(
            PositionUpdate,
            ticket=ticket,
            symbol=symbol,
            status="closed",
            current_price=close_price,
            close_price=close_price,
            realized_pnl=realized_pnl,
        )
        self.node.check_route(close)
        events: list[Event] = [close]
        if realized_pnl is not None:
            conn = await self._reader(PositionUpdate)
            recommendation_id = await queries.recommendation_of(conn, ticket)
            if recommendation_id is not None:
                events.append(
                    schemas.build(
                        RecommendationUpdate,
                        recommendation_id=recommendation_id,
                        status="closed",
                        ticket=ticket,
                        outcome=outcome_of(realized_pnl),
                        realized_pnl=realized_pnl,
                    )
                )
        await self._log(*events)
        return close.event_id

    # -------------------------------------------------------------------- logs

    async def log_trade_monitoring(
        self,
        *,
        ticket: int,
        symbol: str,
        monitoring_type: str,
        status: str,
        details: str = "",
    ) -> str:
        """Log something observed about a live trade; return its ``event_id``."""
        return await self._record(
            TradeMonitoring,
            ticket=ticket,
            symbol=symbol,
            monitoring_type=monitoring_type,
            status=status,
            details=details,
        )

    async def log_trade_alert(
        self,
        *,
        alert_type: str,
        severity: str,
        message: str,
        symbol: str | None = None,
        ticket: int | None = None,
    ) -> str:
        """Log a risk, profit or system alert; return its ``event_id``."""
        return await self._record(
            TradeAlert,
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
    ) -> str:
        """Log one API request; return its ``event_id``."""
        return await self._record(
            ApiLog,
            method=method,
            path=path,
            status_code=status_code,
            duration_ms=duration_ms,
            client=client,
        )

    async def log_system_health(
        self, *, component: str, status: str, details: dict[str, Any] | None = None
    ) -> str:
        """Log a health beat of ``component``; return its ``event_id``."""
        return await self._record(
            SystemHealth,
            component=component,
            status=status,
            details={} if details is None else details,
        )

    # ------------------------------------------------------------------- reads

    async def recent_ticks(self, symbol: str, limit: int = 100) -> list[Tick]:
        """The latest ``limit`` committed ticks of ``symbol``, newest first."""
        return await queries.recent_ticks(await self._reader(Tick), symbol, limit)

    async def open_positions(self) -> list[PositionRecord]:
        """Positions that are not closed."""
        return await queries.open_positions(await self._reader(PositionUpdate))

    async def recommendations(self, status: str | None = None) -> list[RecommendationRecord]:
        """Recommendations, newest first (only those with ``status`` if given)."""
        return await queries.recommendations(await self._reader(TradeRecommendation), status)

    async def alerts(self, since: int | None = None) -> list[TradeAlert]:
        """Alerts at or after ``since`` (ns since the epoch), oldest first."""
        return await queries.alerts(await self._reader(TradeAlert), since)

    async def _reader(self, event_type: type[Event]) -> Any:
        spec = self.node.topology.home(event_type)
        if spec is None:
            raise TradebusError(f"no database of this topology stores {event_type.__name__}")
        return await self.node.shared_reader(spec)

    def __repr__(self) -> str:
        return f"<TradeIntegration role={self.role!r}>"


def _optional(fields: dict[str, Any], **values: Any) -> None:
    """Set only the values given, so that defaults (generated ids, now) apply."""
    fields.update({k: v for k, v in values.items() if v is not None})
