"""The calls that give the position monitor its instructions: a position's exit rules
(trailing stop, break-even move) and OCO groups, checked against the committed state
and stored in the bot's database like every other event."""

from __future__ import annotations

import json

import schemas
from schemas import ExitRule, InvalidEvent, OcoGroup, PositionUpdate, Timeframe

from . import _references as references
from ._calls import IntegrationCalls
from ._event_fields import identity
from ._exceptions import AlreadyRecorded

__all__ = ["ExitCalls"]


class ExitCalls(IntegrationCalls):
    """The calls of :class:`~tradebus.TradeIntegration` that set exits and OCO groups."""

    async def set_exit_rules(
        self,
        *,
        ticket: int,
        symbol: str,
        trailing_distance: float | None = None,
        trailing_atr: float | None = None,
        atr_timeframe: Timeframe = "M5",
        atr_period: int = 14,
        trailing_activation: float | None = None,
        trailing_step: float = 0.0,
        breakeven_trigger: float | None = None,
        breakeven_offset: float = 0.0,
        event_id: str | None = None,
    ) -> str:
        """Set the intelligent exits of open position ``ticket`` (replacing any set
        before); return the rule's ``event_id``.

        A trailing stop keeps the stop ``trailing_distance`` (a price distance), or
        ``trailing_atr`` times the ATR of ``atr_period`` closed ``atr_timeframe``
        candles, behind the best price, once the profit (in price units from the entry)
        reaches ``trailing_activation`` (at once without it); it moves in steps of at
        least ``trailing_step``, and only in the position's favour. A break-even move
        sets the stop to ``entry + breakeven_offset`` (BUY; ``entry - offset`` for a
        SELL) once the profit reaches ``breakeven_trigger``. A rule with neither
        clears the position's exits. The position monitor applies them.

        :raises InvalidEvent: on bad arguments (both a distance and an ATR multiple,
            a negative distance, ...); nothing is enqueued.
        :raises InvalidEvent: if ``symbol`` is not the position's.
        :raises UnknownReference: if ``ticket`` has no committed execution.
        :raises StaleUpdate: if the position is closed.
        :raises AlreadyRecorded: if ``event_id`` is committed for another event.
        """
        if trailing_distance is not None and trailing_atr is not None:
            raise InvalidEvent(
                "ExitRule",
                "trailing_atr",
                trailing_atr,
                "give a trailing stop by distance or by ATR multiple, not both "
                f"(trailing_distance is {trailing_distance!r})",
            )
        rule = schemas.build(
            ExitRule,
            **identity(ExitRule, event_id),
            ticket=ticket,
            symbol=symbol,
            trailing_distance=trailing_distance,
            trailing_atr=trailing_atr,
            atr_timeframe=atr_timeframe,
            atr_period=atr_period,
            trailing_activation=trailing_activation,
            trailing_step=trailing_step,
            breakeven_trigger=breakeven_trigger,
            breakeven_offset=breakeven_offset,
        )
        self._check_routes(rule)
        if event_id is None or not await self._stored_before(rule):
            database, conn = await self._reader(PositionUpdate)
            await references.require_execution(conn, database, ticket)
            [(opened_on,)] = list(
                await conn.execute_fetchall(
                    "SELECT symbol FROM trade_executions WHERE ticket = ? LIMIT 1", (ticket,)
                )
            )
            if opened_on != symbol:
                raise InvalidEvent(
                    "ExitRule", "symbol", symbol, f"position {ticket} is on {opened_on!r}"
                )
            probe = schemas.build(
                PositionUpdate,
                ticket=ticket,
                symbol=symbol,
                status="modified",
                current_price=1.0,
                event_id=rule.event_id,
            )
            await references.require_unclosed(conn, database, probe)
        await self._log(rule)
        return rule.event_id

    async def register_oco(
        self, *, group_id: str, tickets: list[int], event_id: str | None = None
    ) -> str:
        """Register ``tickets`` (pending orders or open positions) as one-cancels-other
        group ``group_id``; return the ``group_id``.

        Once a member that was pending fills (its execution is logged) while another
        is still pending, or a member closes, the position monitor records that the
        others must be cancelled (or closed); a member that fills after that raises a
        critical alert. Registering the same group again with the same tickets stores
        nothing new.

        :raises InvalidEvent: on fewer than 2 tickets, a ticket named twice, more than
            64 (nothing is enqueued).
        :raises AlreadyRecorded: if ``group_id`` is committed with other tickets, or
            ``event_id`` for another event.
        """
        group = schemas.build(
            OcoGroup, **identity(OcoGroup, event_id), group_id=group_id, tickets=list(tickets)
        )
        self._check_routes(group)
        if event_id is None or not await self._stored_before(group):
            database, conn = await self._reader(OcoGroup)
            rows = list(
                await conn.execute_fetchall(
                    "SELECT tickets FROM oco_groups WHERE group_id = ? ORDER BY event_id LIMIT 1",
                    (group_id,),
                )
            )
            if rows:
                (stored,) = rows[0]
                if sorted(json.loads(stored)) != sorted(group.tickets):
                    raise AlreadyRecorded(
                        f"OCO group {group_id!r} is registered in {database} with tickets "
                        f"{stored}, not {group.tickets}: a group is registered once; name "
                        "a new group for other tickets; nothing was enqueued",
                        field="group_id",
                        value=group_id,
                        database=database,
                    )
                return group_id  # the same group again: stored already
        await self._log(group)
        return group_id
