"""What the position monitor fires once per (ticket, kind, level): a
:class:`~schemas.MonitorMark` stored in the bot's database, and the events derived
from it (its alert, its monitoring record, a simulated close), whose ids are derived
from the mark's: publishing them again from the stored mark is a no-op."""

from __future__ import annotations

from schemas import (
    AlertType,
    MonitorMark,
    Severity,
    TradeAlert,
    TradeMonitoring,
    derived_event_id,
    new_event_id,
)

__all__ = [
    "ALERT_TYPES",
    "CLOSE_INDEX",
    "MONITORING_STATUS",
    "PNL_ALERT_INDEX",
    "derived_events",
    "make_mark",
]

#: The alert type of each kind of mark.
ALERT_TYPES: dict[str, AlertType] = {
    "stop_loss_hit": "risk",
    "take_profit_hit": "profit",
    "loss_alert": "risk",
    "profit_alert": "profit",
}
#: The monitoring status of each kind of mark that has a monitoring record.
MONITORING_STATUS: dict[str, str] = {
    "stop_loss_hit": "alert_triggered",
    "take_profit_hit": "alert_triggered",
    "oco_triggered": "oco_triggered",
    "oco_cancel_order": "cancel_required",
    "oco_close_position": "close_required",
    "oco_both_live": "both_legs_live",
}
#: The index of each derived event (see :func:`schemas.derived_event_id`).
ALERT_INDEX = 1
MONITORING_INDEX = 2
CLOSE_INDEX = 3
#: The alert of a simulated close whose P&L is no finite number.
PNL_ALERT_INDEX = 4


def make_mark(
    *,
    ticket: int,
    symbol: str,
    kind: str,
    level: float,
    severity: Severity,
    message: str,
    ts: int,
    price: float | None = None,
    ref: str = "",
) -> MonitorMark:
    """A new mark (its id new: the mark is stored once, the monitor remembers it)."""
    return MonitorMark(
        ticket=ticket,
        symbol=symbol,
        kind=kind,
        level=level,
        severity=severity,
        message=message,
        price=price,
        ref=ref,
        ts=ts,
        event_id=new_event_id(),
    )


def derived_events(mark: MonitorMark) -> list[TradeMonitoring | TradeAlert]:
    """The monitoring record (for kinds that have one) and the alert of ``mark``:
    the same events, with the same ids, every time."""
    events: list[TradeMonitoring | TradeAlert] = []
    status = MONITORING_STATUS.get(mark.kind)
    if status is not None:
        events.append(
            TradeMonitoring(
                ticket=mark.ticket,
                symbol=mark.symbol,
                monitoring_type=mark.kind,
                status=status,
                details=mark.message,
                ts=mark.ts,
                event_id=derived_event_id(mark.event_id, MONITORING_INDEX),
            )
        )
    events.append(
        TradeAlert(
            alert_type=ALERT_TYPES.get(mark.kind, "system"),
            severity=mark.severity,
            message=mark.message,
            symbol=mark.symbol,
            ticket=mark.ticket,
            ts=mark.ts,
            event_id=derived_event_id(mark.event_id, ALERT_INDEX),
        )
    )
    return events
