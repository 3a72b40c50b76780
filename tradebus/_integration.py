"""The trade-integration API: one call per step of a trade's life, returning once committed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

import schemas
from eventbus import NotStored
from schemas import (
    AlertType,
    AnalysisResult,
    ApiLog,
    Direction,
    Event,
    HealthStatus,
    Outcome,
    PositionUpdate,
    RecommendationStatus,
    RecommendationUpdate,
    Severity,
    SystemHealth,
    Tick,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from writers import PositionRecord, RecommendationRecord, queries

from . import _references as references
from ._exceptions import StaleUpdate, TradebusError

if TYPE_CHECKING:
    import aiosqlite

    from ._node import Node

__all__ = ["TradeIntegration", "outcome_of"]


def outcome_of(realized_pnl: float) -> Outcome:
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

    **Retries.** Every logging method takes an optional ``event_id`` and returns the
    one it used. A call that was cancelled (a timeout) or failed may still be
    committed later; retry it with the *same arguments and the same event_id* and it
    is stored once::

        event_id = schemas.new_event_id()
        while True:
            with anyio.move_on_after(timeout):
                await bot.log_trade_execution(..., event_id=event_id)
                break

    An ``event_id`` must be :data:`schemas.EVENT_ID_FORMAT` (a UUIDv7 as
    :func:`schemas.new_event_id` makes), and name one event only: a retry is
    recognised by it. Given one, the event's ``ts`` (unless passed) is the id's
    millisecond, so that the retry's event is identical. Where one call logs two
    events, the second one's id is derived from the first's
    (:func:`schemas.derived_event_id`), so the retry repeats both.

    **References.** Calls that name a ticket or a recommendation are checked against
    what is *committed* in the data directory, before anything is enqueued, and
    refused with :class:`~tradebus.UnknownReference` or
    :class:`~tradebus.AlreadyRecorded`. Log (and await) a trade's execution before
    updating or closing it, and a recommendation before updating or executing it.
    Events of another process become visible once its writer commits them: until
    then, calls naming them are refused (retry later). A caller's ``event_id`` that is
    committed already with other content is refused (:class:`~tradebus.AlreadyRecorded`);
    an update that would change nothing (of a closed position, or to an earlier stage
    of a recommendation) too (:class:`~tradebus.StaleUpdate`).

    **Two events in one call.** Where a call logs two events (an execution and its
    recommendation's update, a close and its recommendation's close), the second is
    published once the first is committed: a first event that is not stored
    (:class:`eventbus.NotStored`) leaves nothing behind. A call cancelled between the
    two leaves the first alone; its retry with the same ``event_id`` replays the first
    (a no-op) and logs the second.
    """

    def __init__(self, node: Node, role: str) -> None:
        self.node = node
        self.role = role

    async def _log(self, first: Event, *then: Event) -> None:
        """Publish ``first`` and return once its writer committed it, then each of
        ``then`` in turn likewise; refuse them all, before anything is enqueued, if one
        has no route.

        One at a time: an event a call brings along (a recommendation's update) is
        published only once the event it follows is stored, so that a first event the
        writer refuses (:class:`eventbus.NotStored`) leaves nothing behind.
        """
        self._check_routes(first, *then)
        for event in (first, *then):
            await self.node.bus.publish(event, wait=True)

    def _check_routes(self, *events: Event) -> None:
        for event in events:
            self.node.check_route(event)

    async def _record(self, event_type: type[Event], event_id: str | None, **fields: Any) -> str:
        """Build (validate), log and return the ``event_id`` of one event."""
        event = schemas.build(event_type, **_identity(event_type, event_id), **fields)
        self._check_routes(event)
        if event_id is not None:
            await self._stored_before(event)
        await self._log(event)
        return str(event.event_id)  # type: ignore[attr-defined]

    async def _closed_already(self, update: RecommendationUpdate) -> bool:
        """Whether ``update`` (a close) would change nothing: its recommendation is
        closed already (by another update, or by this very one before)."""
        database, conn = await self._reader(RecommendationUpdate)
        try:
            await references.require_later_stage(conn, database, update)
        except StaleUpdate:
            return True
        return False

    async def _stored_before(self, event: Event) -> bool:
        """Whether ``event``, under a caller's ``event_id``, is committed already (its
        call is a retry: the event a replay).

        :raises AlreadyRecorded: if the ``event_id`` is committed with other content.
        """
        database, conn = await self._reader(type(event))
        return await references.stored_before(conn, database, event)

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
        identity = _identity(TradeRecommendation, event_id, ts)
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
                recommendation_id if recommendation_id is not None else identity["event_id"]
            ),
        }
        event = schemas.build(TradeRecommendation, **identity, **fields)
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
            **_identity(RecommendationUpdate, event_id),
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
            **_identity(TradeExecution, event_id, ts),
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
            events.append(
                schemas.build(
                    RecommendationUpdate,
                    recommendation_id=recommendation_id,
                    status="executed",
                    ticket=ticket,
                    ts=execution.ts,
                    event_id=schemas.derived_event_id(execution.event_id),
                )
            )
        self._check_routes(*events)
        if recommendation_id is not None:
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
            **_identity(PositionUpdate, event_id),
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
            **_identity(PositionUpdate, event_id),
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
            recommendation_id = await queries.recommendation_of(conn, ticket)
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

    # ------------------------------------------------------------------- reads

    async def recent_ticks(self, symbol: str, limit: int = 100) -> list[Tick]:
        """The latest ``limit`` committed ticks of ``symbol``, newest first."""
        _, conn = await self._reader(Tick)
        return await queries.recent_ticks(conn, symbol, limit)

    async def open_positions(self) -> list[PositionRecord]:
        """Positions that are not closed."""
        _, conn = await self._reader(PositionUpdate)
        return await queries.open_positions(conn)

    async def recommendations(
        self, status: RecommendationStatus | None = None
    ) -> list[RecommendationRecord]:
        """Recommendations, newest first (only those with ``status`` if given)."""
        _, conn = await self._reader(TradeRecommendation)
        return await queries.recommendations(conn, status)

    async def alerts(self, since: int | None = None) -> list[TradeAlert]:
        """Alerts at or after ``since`` (ns since the epoch), oldest first."""
        _, conn = await self._reader(TradeAlert)
        return await queries.alerts(conn, since)

    async def _reader(self, event_type: type[Event]) -> tuple[str, aiosqlite.Connection]:
        """The file name and shared read-only connection of ``event_type``'s home."""
        spec = self.node.topology.home(event_type)
        if spec is None:
            raise TradebusError(f"no database of this topology stores {event_type.__name__}")
        return spec.filename, await self.node.shared_reader(spec)

    def __repr__(self) -> str:
        return f"<TradeIntegration role={self.role!r}>"


def _identity(
    event_type: type[Event], event_id: str | None, ts: int | None = None
) -> dict[str, Any]:
    """The ``event_id`` and ``ts`` fields of a new event.

    A caller's ``event_id`` is checked; without one, a new id is made. The id fixes
    the ``ts`` (its millisecond, unless ``ts`` is given): a retry with that
    ``event_id`` builds the very same event.

    :raises InvalidEvent: if ``event_id`` is not of the format ``EVENT_ID_FORMAT``.
    """
    if event_id is None:
        event_id = schemas.new_event_id()
    else:
        event_id = schemas.check_event_id(event_id, event_type.__name__)
    if ts is None:
        # Whether the id is the caller's or new: a retry that passes the id this call
        # returns builds the very same event.
        ts = schemas.event_id_ts(event_id) * 1_000_000
    return {"event_id": event_id, "ts": ts}
