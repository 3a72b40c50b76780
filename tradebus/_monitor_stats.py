"""The position monitor's counters, and the statistics a user reads."""

from __future__ import annotations

import dataclasses

import msgspec

__all__ = ["Counters", "MonitorStatistics"]


class MonitorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What a :class:`~tradebus.PositionMonitor` watches, and what it did since it
    started."""

    mode: str
    #: Open positions watched, and the symbols they are on.
    positions: int
    symbols: int
    #: Ticks examined (of symbols with positions).
    ticks: int
    #: Ticks older than a tick of the same symbol examined before (ignored).
    late_ticks: int
    stop_loss_hits: int
    take_profit_hits: int
    #: Stop loss hits whose tick crossed the take profit too.
    gaps: int
    trailing_moves: int
    breakevens: int
    #: Risk and profit alerts on unrealized P&L.
    pnl_alerts: int
    oco_triggers: int
    #: Members of OCO groups that filled after the group was triggered.
    oco_both_live: int
    #: simulate: positions closed, and closes refused (the position was closed
    #: already, by the bot or the broker).
    closes: int
    close_errors: int
    #: P&L figures that were no finite number (price distance x volume x contract
    #: size beyond the range of a float): left out of the close or the position
    #: update that would have carried them (logged; a close's has an alert too).
    non_finite_pnl: int
    #: Events the monitor made that validation refused: not published (logged).
    refused_events: int


@dataclasses.dataclass
class Counters:
    ticks: int = 0
    late_ticks: int = 0
    stop_loss_hits: int = 0
    take_profit_hits: int = 0
    gaps: int = 0
    trailing_moves: int = 0
    breakevens: int = 0
    pnl_alerts: int = 0
    oco_triggers: int = 0
    oco_both_live: int = 0
    closes: int = 0
    close_errors: int = 0
    non_finite_pnl: int = 0
    refused_events: int = 0

    def snapshot(self, *, mode: str, positions: int, symbols: int) -> MonitorStatistics:
        return MonitorStatistics(
            mode=mode, positions=positions, symbols=symbols, **dataclasses.asdict(self)
        )
