"""The trade-lifecycle calls: recommendations and analyses, executions, position
updates and closes; each checked against the committed state before it is logged."""

from __future__ import annotations

from typing import Any

import msgspec

import schemas
from eventbus import NotStored
from schemas import (
    AnalysisResult,
    Direction,
    Event,
    Outcome,
    PositionUpdate,
    RecommendationStatus,
    RecommendationUpdate,
    TradeAnalysis,
    TradeExecution,
    TradeRecommendation,
)

from . import _references as references
from ._calls import IntegrationCalls
from ._event_fields import identity, outcome_of

__all__ = ["LifecycleCalls"]


class LifecycleCalls(IntegrationCalls):
    """The calls of :class:`~tradebus.TradeIntegration` that log a trade's life."""

    # ---------------------------------------------------------------- analysis

    async def log_trade_recommendation(
        self,
        *,
        symbol: str,
        direction: Direction,
        entry_price: float,
        stop_loss: float,
        take_profit: float,
        confidence: float,
        reasoning: str = "",
        timeframe: str = "",
        source: str = "",
        recommendation_id: str | None = None,
        ts: int | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log a recommendation (status ``pending``); return its ``recommendation_id``.

        Without a ``recommendation_id``, it is the ``event_id`` when one is given (a
        retry gets the same one), else a new id. Logging a committed recommendation
        again with the same content (a repeat without its ``event_id``) stores nothing
        new: the call replays the stored event.

        :raises InvalidEvent: on bad arguments (nothing is enqueued).
        :raises AlreadyRecorded: if ``recommendation_id`` is already committed for
            another recommendation (other content), or ``event_id`` for another event,
            naming what differs.
        """
        fixed = identity(TradeRecommendation, event_id, ts)
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
            "recommendation_id": (
                recommendation_id if recommendation_id is not None else fixed["event_id"]
            ),
        }
        event = schemas.build(TradeRecommendation, **fixed, **fields)
        self._check_routes(event)
        if event_id is None or not await self._stored_before(event):
            database, conn = await self._reader(TradeRecommendation)
            twin = await references.twin_recommendation(
                conn, database, event, caller_id=event_id is not None
            )
            if twin is not None:  # the same recommendation again: replay the stored event
                event_id, ts = twin
                event = msgspec.structs.replace(event, event_id=event_id, ts=ts)
        await self._log(event)
        return event.recommendation_id

    async def update_recommendation(
        self,
        *,
        recommendation_id: str,
        status: RecommendationStatus,
        ticket: int | None = None,
        outcome: Outcome | None = None,
        realized_pnl: float | None = None,
        event_id: str | None = None,
    ) -> str:
        """Move a recommendation to ``status`` (``rejected``, ``expired``, ...); return the
        update's ``event_id``.

        The status only moves forward: ``pending`` < ``rejected`` = ``expired`` <
        ``executed`` < ``closed`` (final).

        :raises InvalidEvent: on bad arguments, e.g. an ``outcome`` that contradicts
            the sign of ``realized_pnl`` (nothing is enqueued).
        :raises UnknownReference: if no recommendation with ``recommendation_id`` is
            committed (log it, awaited, first; one logged by another process is known
            once its writer committed it).
        :raises StaleUpdate: if the committed status is of a later stage than
            ``status``, or closed already (the update would change nothing).
        :raises AlreadyRecorded: if ``event_id`` is committed for another event.
        """
        update = schemas.build(
            RecommendationUpdate,
            **identity(RecommendationUpdate, event_id),
            recommendation_id=recommendation_id,
            status=status,
            ticket=ticket,
            outcome=outcome,
            realized_pnl=realized_pnl,
        )
        self._check_routes(update)
        if event_id is None or not await self._stored_before(update):
            database, conn = await self._reader(RecommendationUpdate)
            await references.require_later_stage(conn, database, update)
        await self._log(update)
        return update.event_id

    async def log_trade_analysis(
        self,
        *,
        symbol: str,
        timeframe: str,
        regime: str,
        confluence_score: float,
        indicators: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log a market analysis; return its ``event_id``.

        :raises InvalidEvent: on bad arguments, or ``indicators`` beyond the limits
            (see :data:`schemas.MAX_EVENT_BYTES`); nothing is enqueued.
        """
        return await self._record(
            TradeAnalysis,
            event_id,
            symbol=symbol,
            timeframe=timeframe,
            regime=regime,
            confluence_score=confluence_score,
            indicators={} if indicators is None else indicators,
        )

    async def log_analysis_result(
        self,
        *,
        kind: str,
        payload: dict[str, Any] | None = None,
        symbol: str | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log any other analysis result; return its ``event_id``.

        :raises InvalidEvent: on bad arguments, or a ``payload`` beyond the limits
            (see :data:`schemas.MAX_EVENT_BYTES`); nothing is enqueued.
        """
        return await self._record(
            AnalysisResult,
            event_id,
            kind=kind,
            payload={} if payload is None else payload,
            symbol=symbol,
        )

    # ----------------------------------------------------------------- trading

    async def log_trade_execution(
        self,
        *,
        ticket: int,
        symbol: str,
        direction: Direction,
        entry_price: float,
        volume: float,
        stop_loss: float | None = None,
        take_profit: float | None = None,
        recommendation_id: str | None = None,
        comment: str = "",
        ts: int | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log an executed trade (it opens position ``ticket``); return its ``event_id``.

        Naming the ``recommendation_id`` it follows marks that recommendation executed
        (a second event, whose id is derived from ``event_id``).

        Logging a committed execution again with the same content (a repeat without
        its ``event_id``) stores nothing new and returns the stored ``event_id``.

        :raises InvalidEvent: on bad arguments (nothing is enqueued).
        :raises AlreadyRecorded: if another execution of ``ticket`` (other content) is
            committed, or ``event_id`` for another event, naming what differs.
        :raises UnknownReference: if no recommendation with ``recommendation_id`` is
            committed. Two calls racing for one ticket both pass this check; the
            writer refuses the second (its call raises ``eventbus.NotStored``, and
            its recommendation is not marked executed).
        """
        execution = schemas.build(
            TradeExecution,
            **identity(TradeExecution, event_id, ts),
            ticket=ticket,
            symbol=symbol,
            direction=direction,
            entry_price=entry_price,
            volume=volume,
            stop_loss=stop_loss,
            take_profit=take_profit,
            recommendation_id=recommendation_id,
            comment=comment,
        )
        self._check_routes(execution)
        replay = event_id is not None and await self._stored_before(execution)
        if not replay:
            database, conn = await self._reader(TradeExecution)
            twin = await references.twin_execution(
                conn, database, execution, caller_id=event_id is not None
            )
            if twin is not None:  # the same trade again: replay the stored events
                event_id, ts = twin
                execution = msgspec.structs.replace(execution, event_id=event_id, ts=ts)
                replay = True
        events: list[Event] = [execution]
        if recommendation_id is not None:
            update = schemas.build(
                RecommendationUpdate,
                recommendation_id=recommendation_id,
                status="executed",
                ticket=ticket,
                ts=execution.ts,
                event_id=schemas.derived_event_id(execution.event_id),
            )
            events.append(update)
            self._check_routes(update)
            database, conn = await self._reader(TradeRecommendation)
            await references.require_recommendation(
                conn, database, recommendation_id, executed_by=None if replay else ticket
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
        event_id: str | None = None,
    ) -> str:
        """Log a change of an open position (price, stops, P&L); return its ``event_id``.

        :raises InvalidEvent: on bad arguments (nothing is enqueued).
        :raises UnknownReference: if ``ticket`` has no committed execution (log the
            execution, awaited, first; one logged by another process counts once its
            writer committed it).
        :raises StaleUpdate: if the position's close is committed (a close is final).
        :raises AlreadyRecorded: if ``event_id`` is committed for another event.
        """
        update = schemas.build(
            PositionUpdate,
            **identity(PositionUpdate, event_id),
            ticket=ticket,
            symbol=symbol,
            status="modified",
            current_price=current_price,
            stop_loss=stop_loss,
            take_profit=take_profit,
            unrealized_pnl=unrealized_pnl,
            volume=volume,
        )
        self._check_routes(update)
        if event_id is None or not await self._stored_before(update):
            database, conn = await self._reader(PositionUpdate)
            await references.require_execution(conn, database, ticket)
            await references.require_unclosed(conn, database, update)
        await self._log(update)
        return update.event_id

    async def close_position(
        self,
        *,
        ticket: int,
        symbol: str,
        close_price: float,
        realized_pnl: float | None = None,
        event_id: str | None = None,
    ) -> str:
        """Log the close of position ``ticket``; return its ``event_id``.

        With a ``realized_pnl``, the recommendation the trade followed (if any) is
        marked closed with its outcome (win, loss, breakeven) and P&L (a second event,
        whose id is derived from ``event_id``, logged once the close is committed),
        unless it is closed already, or another close of it reaches its writer first (a
        recommendation closes once: the earlier close stays).

        :raises InvalidEvent: on bad arguments (nothing is enqueued).
        :raises UnknownReference: if ``ticket`` has no committed execution.
        :raises AlreadyRecorded: if another close of ``ticket`` is committed, or
            ``event_id`` for another event.
        """
        close = schemas.build(
            PositionUpdate,
            **identity(PositionUpdate, event_id),
            ticket=ticket,
            symbol=symbol,
            status="closed",
            current_price=close_price,
            close_price=close_price,
            realized_pnl=realized_pnl,
        )
        self._check_routes(close)
        database, conn = await self._reader(PositionUpdate)
        if event_id is None or not await self._stored_before(close):
            await references.require_execution(conn, database, ticket)
            await references.require_open(conn, database, ticket, close.event_id)
        follow: RecommendationUpdate | None = None
        if realized_pnl is not None:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT recommendation_id FROM trade_positions WHERE ticket = ?", (ticket,)
                )
            )
            recommendation_id = rows[0][0] if rows else None
            if recommendation_id is not None:
                update = schemas.build(
                    RecommendationUpdate,
                    recommendation_id=recommendation_id,
                    status="closed",
                    ticket=ticket,
                    outcome=outcome_of(realized_pnl),
                    realized_pnl=realized_pnl,
                    ts=close.ts,
                    event_id=schemas.derived_event_id(close.event_id),
                )
                self._check_routes(update)  # before reading its database
                if not await self._closed_already(update):
                    follow = update
        if follow is None:
            await self._log(close)
            return close.event_id
        await self._log(close)
        try:
            await self._log(follow)
        except NotStored:
            # Another close of the recommendation (update_recommendation) reached its
            # writer first: it closes once, and this call's own close is stored.
            if not await self._closed_already(follow):
                raise
        return close.event_id
