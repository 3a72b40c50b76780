"""The rules of events that typed decoding cannot express: finite numbers, symbols,
event ids, the sides of stops and targets, consistent outcomes and closes."""

from __future__ import annotations

import math

from ._events import (
    Candle,
    Event,
    OcoGroup,
    PositionUpdate,
    RecommendationUpdate,
    TradeExecution,
    TradeRecommendation,
)
from ._exceptions import InvalidEvent
from ._fields import FLOAT_FIELDS, HAS_EVENT_ID, JSON_FIELDS
from ._ids import check_event_id
from ._json import check_json
from ._symbols import check_symbol
from ._types import TIMEFRAME_SECONDS, Direction, Outcome

__all__ = ["check_values", "semantic_check"]


def semantic_check(event: Event) -> None:
    """Check what typed decoding cannot: finiteness, symbols, cross-field rules, and
    that JSON payloads are plain JSON of bounded size.

    The event's field types are assumed correct (it was just decoded, or checked).
    """
    check_values(event)
    cls = type(event)
    for field in JSON_FIELDS[cls]:
        check_json(cls.__name__, field, getattr(event, field))


def check_values(event: Event) -> None:
    """:func:`semantic_check` but for the JSON payloads (checked before encoding)."""
    cls = type(event)
    name = cls.__name__
    for field in FLOAT_FIELDS[cls]:
        value = getattr(event, field)
        if value is not None and not math.isfinite(value):
            raise InvalidEvent(name, field, value, "must be a finite number")
    if cls in HAS_EVENT_ID:
        check_event_id(getattr(event, "event_id"), name)  # noqa: B009
    symbol = getattr(event, "symbol", None)
    if symbol is not None:
        check_symbol(name, symbol)
    if cls is TradeExecution or cls is TradeRecommendation:
        assert isinstance(event, TradeExecution | TradeRecommendation)
        _check_sides(name, event.direction, event.entry_price, event.stop_loss, event.take_profit)
    elif cls is Candle:
        assert isinstance(event, Candle)
        if event.high < max(event.open, event.close, event.low):
            raise InvalidEvent(name, "high", event.high, "must be >= open, close and low")
        if event.low > min(event.open, event.close):
            raise InvalidEvent(name, "low", event.low, "must be <= open and close")
        _check_tick_span(name, event)
    elif cls is RecommendationUpdate:
        assert isinstance(event, RecommendationUpdate)
        if event.outcome is not None and event.status != "closed":
            raise InvalidEvent(name, "outcome", event.outcome, "only a closed status has one")
        _check_outcome(name, event.outcome, event.realized_pnl)
    elif cls is OcoGroup:
        assert isinstance(event, OcoGroup)
        if len(set(event.tickets)) != len(event.tickets):
            raise InvalidEvent(name, "tickets", event.tickets, "must name each ticket once")
    elif cls is PositionUpdate:
        assert isinstance(event, PositionUpdate)
        if event.close_price is not None and event.status != "closed":
            raise InvalidEvent(name, "close_price", event.close_price, "only a close has one")


def _check_tick_span(name: str, candle: Candle) -> None:
    """A candle's first and last ticks lie in its interval, the first not after the last."""
    end = candle.ts_open + TIMEFRAME_SECONDS[candle.timeframe] * 1_000_000_000
    for field in ("first_tick_ts", "last_tick_ts"):
        value = getattr(candle, field)
        if value is not None and not candle.ts_open <= value < end:
            raise InvalidEvent(
                name, field, value, f"must lie in the bar's interval [{candle.ts_open}, {end})"
            )
    first, last = candle.first_tick_ts, candle.last_tick_ts
    if first is not None and last is not None and first > last:
        raise InvalidEvent(name, "first_tick_ts", first, f"must be <= last_tick_ts {last}")


def _check_outcome(name: str, outcome: Outcome | None, realized_pnl: float | None) -> None:
    """An outcome must agree with the sign of the realized P&L given with it."""
    if outcome is None or realized_pnl is None:
        return
    if realized_pnl > 0:
        agrees: Outcome = "win"
    elif realized_pnl < 0:
        agrees = "loss"
    else:
        agrees = "breakeven"
    if outcome != agrees:
        raise InvalidEvent(
            name,
            "outcome",
            outcome,
            f"contradicts realized_pnl {realized_pnl!r}, whose outcome is {agrees!r} "
            "(win: > 0, loss: < 0, breakeven: 0)",
        )


def _check_sides(
    name: str,
    direction: Direction,
    entry: float,
    stop_loss: float | None,
    take_profit: float | None,
) -> None:
    if direction == "BUY":
        if stop_loss is not None and not stop_loss < entry:
            raise InvalidEvent(name, "stop_loss", stop_loss, f"a BUY needs it below entry {entry}")
        if take_profit is not None and not take_profit > entry:
            raise InvalidEvent(
                name, "take_profit", take_profit, f"a BUY needs it above entry {entry}"
            )
    else:
        if stop_loss is not None and not stop_loss > entry:
            raise InvalidEvent(name, "stop_loss", stop_loss, f"a SELL needs it above entry {entry}")
        if take_profit is not None and not take_profit < entry:
            raise InvalidEvent(
                name, "take_profit", take_profit, f"a SELL needs it below entry {entry}"
            )
