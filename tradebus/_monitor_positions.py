"""An open position as the monitor watches it, and what one tick means for it: a stop
loss or take profit hit on the right side of the book, a risk or profit alert, a stop
moved by its exit rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from schemas import Direction, ExitRule, Severity

from ._exits import next_stop, sign_of

__all__ = ["Fired", "Watched", "examine"]

#: A mark's key: (ticket, kind, level, ref).
MarkKey = tuple[int, str, float, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fired:
    """Something a tick fired for a position (to be marked once)."""

    kind: str
    level: float
    price: float
    severity: Severity
    message: str
    #: A stop hit whose tick crossed the take profit too.
    gap: bool = False


@dataclasses.dataclass
class Watched:
    """An open position: its levels, its exit rule, and what the monitor did with it."""

    ticket: int
    symbol: str
    direction: Direction | None
    entry: float
    volume: float
    stop_loss: float | None
    take_profit: float | None
    #: The ts of its execution (or when the monitor first saw it, if that ts is ahead
    #: of the monitor's clock): ticks before it do not concern it.
    opened_ts: int
    rule: ExitRule | None = None
    #: The event_id of the latest rule seen (a rule that clears it too).
    rule_id: str = ""
    #: simulate: its close is on its way (it is no longer watched).
    closing: bool = False
    #: The last price (on its closing side) and P&L a tick gave it.
    price: float | None = None
    pnl: float | None = None
    #: The kinds of stop moves of the batch under way (published once per batch).
    moves: list[str] = dataclasses.field(default_factory=list)
    #: The stop loss of the last update this monitor published.
    published_stop: float | None = None
    #: Units per lot: its P&L is price distance x volume x contract size (money).
    contract_size: float = 1.0


def _hit_message(p: Watched, kind: str, level: float, price: float, ts: int, gap: bool) -> str:
    side = "bid" if p.direction != "SELL" else "ask"
    what = "stop loss" if kind == "stop_loss_hit" else "take profit"
    slippage = (price - level) * sign_of(p.direction)
    text = (
        f"{p.symbol} #{p.ticket} {p.direction or ''} {what} {level:.10g} hit: {side} "
        f"{price:.10g}, slippage {slippage:+.10g}, tick ts {ts}"
    )
    if gap:
        text += (
            f"; the tick crossed both the stop loss and the take profit "
            f"{p.take_profit:.10g} (a gap): the stop loss wins"
        )
    return text


def examine(
    p: Watched,
    *,
    bid: float,
    ask: float,
    ts: int,
    atr: float | None,
    fired: set[MarkKey],
    loss_levels: Sequence[float],
    profit_levels: Sequence[float],
) -> list[Fired]:
    """What the tick (``bid``, ``ask``, ``ts``) fires for ``p``, and the stop its exit
    rule moves (``p.stop_loss`` is updated, the move's kind appended to ``p.moves``).

    The levels of a BUY trigger on the bid, those of a SELL on the ask. A stop loss
    hit wins over a take profit hit of the same tick. Once its current stop or target
    was hit, a position's exits and alerts wait for new levels (or its close).
    """
    sign = sign_of(p.direction)
    price = bid if sign > 0 else ask
    p.price = price
    profit = (price - p.entry) * sign
    p.pnl = round(profit * p.volume * p.contract_size, 10)
    found: list[Fired] = []
    stop_hit = p.stop_loss is not None and (price - p.stop_loss) * sign <= 0
    target_hit = p.take_profit is not None and (price - p.take_profit) * sign >= 0
    if stop_hit or target_hit:
        kind = "stop_loss_hit" if stop_hit else "take_profit_hit"
        level = p.stop_loss if stop_hit else p.take_profit
        assert level is not None
        if (p.ticket, kind, level, "") not in fired:
            gap = stop_hit and target_hit
            found.append(
                Fired(
                    kind=kind,
                    level=level,
                    price=price,
                    severity="warning" if stop_hit else "info",
                    message=_hit_message(p, kind, level, price, ts, gap),
                    gap=gap,
                )
            )
        return found
    for kind, levels, severity, amount in (
        ("loss_alert", loss_levels, "warning", -p.pnl),
        ("profit_alert", profit_levels, "info", p.pnl),
    ):
        for level in levels:
            if amount >= level and (p.ticket, kind, level, "") not in fired:
                what = "loss" if kind == "loss_alert" else "profit"
                found.append(
                    Fired(
                        kind=kind,
                        level=level,
                        price=price,
                        severity=severity,  # type: ignore[arg-type]
                        message=(
                            f"{p.symbol} #{p.ticket} unrealized {what} {abs(p.pnl):.10g} "
                            f"reached {level:.10g} at {price:.10g} (tick ts {ts})"
                        ),
                    )
                )
    if p.rule is not None:
        move = next_stop(
            rule=p.rule,
            direction=p.direction,
            entry=p.entry,
            stop=p.stop_loss,
            price=price,
            atr=atr,
        )
        if move is not None:
            p.stop_loss = move.stop
            p.moves.append(move.kind)
    return found
