"""The trade-integration API: one call per step of a trade's life, returning once committed."""

from __future__ import annotations

from schemas import PositionUpdate, RecommendationStatus, Tick, TradeAlert, TradeRecommendation
from writers import PositionRecord, RecommendationRecord, queries

from ._awaited import must_await
from ._event_fields import outcome_of
from ._exit_calls import ExitCalls
from ._lifecycle_calls import LifecycleCalls
from ._log_calls import LogCalls

__all__ = ["TradeIntegration", "outcome_of"]


class TradeIntegration(LifecycleCalls, LogCalls, ExitCalls):
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
    recommendation's update, a close and its recommendation's close), they are stored
    together or not at all: as one atomic group (``EventBus.publish_many``) when one
    database stores both, committed in one transaction. The system's pairs span two
    databases (trades in main, recommendations in analysis), which no transaction
    spans: there the second is published once the first is committed, so that a first
    event that is not stored (:class:`eventbus.NotStored`) leaves nothing behind. A call
    cancelled between the two leaves the first alone; its retry with the same
    ``event_id`` replays the first (a no-op) and logs the second.
    """

    # Every call returns an IntegrationCall: one never awaited says so (nothing stored).
    log_trade_recommendation = must_await(LifecycleCalls.log_trade_recommendation)
    update_recommendation = must_await(LifecycleCalls.update_recommendation)
    log_trade_analysis = must_await(LifecycleCalls.log_trade_analysis)
    log_analysis_result = must_await(LifecycleCalls.log_analysis_result)
    log_trade_execution = must_await(LifecycleCalls.log_trade_execution)
    update_position = must_await(LifecycleCalls.update_position)
    close_position = must_await(LifecycleCalls.close_position)
    log_trade_monitoring = must_await(LogCalls.log_trade_monitoring)
    log_trade_alert = must_await(LogCalls.log_trade_alert)
    log_api_request = must_await(LogCalls.log_api_request)
    log_system_health = must_await(LogCalls.log_system_health)
    set_exit_rules = must_await(ExitCalls.set_exit_rules)
    register_oco = must_await(ExitCalls.register_oco)

    # ------------------------------------------------------------------- reads

    @must_await
    async def recent_ticks(self, symbol: str, limit: int = 100) -> list[Tick]:
        """The latest ``limit`` committed ticks of ``symbol``, newest first."""
        conn = await self._shared(Tick)
        return await queries.recent_ticks(conn, symbol, limit)

    @must_await
    async def open_positions(self) -> list[PositionRecord]:
        """Positions that are not closed."""
        conn = await self._shared(PositionUpdate)
        return await queries.open_positions(conn)

    @must_await
    async def recommendations(
        self, status: RecommendationStatus | None = None
    ) -> list[RecommendationRecord]:
        """Recommendations, newest first (only those with ``status`` if given)."""
        conn = await self._shared(TradeRecommendation)
        return await queries.recommendations(conn, status)

    @must_await
    async def alerts(self, since: int | None = None) -> list[TradeAlert]:
        """Alerts at or after ``since`` (ns since the epoch), oldest first."""
        conn = await self._shared(TradeAlert)
        return await queries.alerts(conn, since)

    def __repr__(self) -> str:
        return f"<TradeIntegration role={self.role!r}>"
