"""The intake's events from a JSON body: one object or a list of them, each in the
schemas' form (``{"type": "TradeAlert", "alert_type": ..., ...}``), validated by the
schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec

import schemas
from schemas import (
    AnalysisResult,
    ApiLog,
    Event,
    ExitRule,
    InvalidEvent,
    OcoGroup,
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

from ._intake_errors import IntakeRefused
from ._intake_store import Incoming

__all__ = ["INTAKE_TYPES", "decode_body", "event_from", "events_from"]

#: The event types the intake takes, by their ``type``. Not the services' own records
#: (candles, the tick import's ledger, the position monitor's marks): their services
#: make them from the events above.
INTAKE_TYPES: Final[dict[str, type[Event]]] = {
    cls.__name__: cls
    for cls in (
        Tick,
        TradeExecution,
        PositionUpdate,
        TradeRecommendation,
        RecommendationUpdate,
        TradeAnalysis,
        AnalysisResult,
        TradeMonitoring,
        TradeAlert,
        SystemHealth,
        ApiLog,
        ExitRule,
        OcoGroup,
    )
}
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ALLOWED_TYPES: Final = ", ".join(sorted(INTAKE_TYPES))


def decode_body(body: bytes) -> object:
    """The JSON value of ``body``.

    :raises IntakeRefused: 400 if it is empty or not JSON, saying where it breaks.
    """
    if not body.strip():
        raise IntakeRefused(
            400,
            "the body is empty: send one event (a JSON object) or a list of them",
            allowed="a JSON object or array",
        )
    try:
        return msgspec.json.decode(body)
    except RecursionError as exc:
        raise IntakeRefused(
            400,
            "the body's JSON is nested too deep to be an event: send one event (a JSON "
            "object) or a list of them",
            allowed="a JSON object or array",
        ) from exc
    except msgspec.DecodeError as exc:
        raise IntakeRefused(
            400,
            f"the body is not valid JSON ({exc}): send one event (a JSON object) or a list "
            "of them, with Content-Type: application/json",
            allowed="a JSON object or array",
        ) from exc


def events_from(data: object, max_batch: int) -> tuple[list[Incoming], bool]:
    """The events of ``data`` (a JSON object, or a list of at most ``max_batch``), and
    whether it was a list.

    :raises IntakeRefused: 422 naming the event (its position in a list), the field,
        the value and what is allowed; 413 for a list of more than ``max_batch``.
    """
    if isinstance(data, list):
        if not data:
            raise IntakeRefused(
                422,
                "the list of events is empty: send at least one event",
                value=[],
                allowed=f"1 to {max_batch} events",
            )
        if len(data) > max_batch:
            raise IntakeRefused(
                413,
                f"the list holds {len(data)} events, over the limit of {max_batch} per "
                "request (max_batch): send them in several requests",
                value=len(data),
                allowed=f"1 to {max_batch} events",
            )
        return [_item(item, index) for index, item in enumerate(data)], True
    return [_item(data, None)], False


def _item(data: object, index: int | None) -> Incoming:
    try:
        event = event_from(data)
    except InvalidEvent as exc:
        where = "" if index is None else f"event {index} of the list: "
        raise IntakeRefused(
            422,
            f"{where}{exc}",
            field=exc.field,
            value=exc.value,
            allowed=exc.reason,
            item=index,
        ) from exc
    caller_id = isinstance(data, dict) and data.get("event_id") is not None
    return Incoming(event=event, caller_id=caller_id)


def event_from(data: object, *, default_type: str | None = None) -> Event:
    """The event ``data`` (a JSON object) describes, validated.

    A caller's ``event_id`` fixes the event's ``ts`` when it gives none (the id's
    millisecond), and a recommendation's ``recommendation_id`` likewise: a retry of
    the same JSON builds the very same event.

    :param default_type: the ``type`` of an object that names none.
    :raises InvalidEvent: naming the field, the value and what is allowed.
    """
    if not isinstance(data, dict):
        raise InvalidEvent(
            "event", None, data, 'expected a JSON object, such as {"type": "TradeAlert", ...}'
        )
    fields: dict[str, Any] = dict(data)
    tag = fields.pop("type", default_type)
    cls = INTAKE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise InvalidEvent("event", "type", tag, f"expected one of {_ALLOWED_TYPES}")
    if "event_id" in cls.__struct_fields__:
        event_id = fields.get("event_id")
        if event_id is None:
            fields.pop("event_id", None)  # a new one
        else:
            event_id = schemas.check_event_id(event_id, cls.__name__)
            if fields.get("ts") is None:
                fields["ts"] = schemas.event_id_ts(event_id) * 1_000_000
            if cls is TradeRecommendation and fields.get("recommendation_id") is None:
                fields["recommendation_id"] = event_id
    ts = fields.get("ts", 0)
    if ts is None:
        fields.pop("ts")  # now
    elif isinstance(ts, str):
        fields["ts"] = _iso_ts(cls.__name__, ts)
    return schemas.from_dict(fields, cls)


def _iso_ts(event_type: str, text: str) -> int:
    """An ISO-8601 time (``2026-11-30T23:59:00Z``; UTC unless it says) in ns since the
    epoch."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(
            event_type,
            "ts",
            text,
            "expected ns since the Unix epoch (an int) or an ISO-8601 time such as "
            "2026-11-30T23:59:00Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
