"""``POST /api/v1/events``: events from outside, validated and routed to their owner;
``POST /api/v1/webhooks/alert``: an alert from a charting platform's webhook
(TradingView's, or any that posts a text or a JSON object)."""

from __future__ import annotations

import hmac
from typing import Any, Final

import msgspec
from litestar import Request, Response, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.types import ControllerRouterHandler

from schemas import InvalidEvent

from ._auth import require_token
from ._context import ApiContext
from ._intake_decode import decode_body, event_from, events_from
from ._intake_errors import IntakeError, IntakeRefused, refusal_response
from ._intake_store import Incoming, store_events

__all__ = ["INTAKE_HANDLERS", "WEBHOOK_DEFAULTS", "EventIds"]

#: What an alert from a webhook is when its body does not say (query parameters of
#: the same names say it too).
WEBHOOK_DEFAULTS: Final[dict[str, str]] = {"alert_type": "system", "severity": "info"}

_JSON: Final = "application/json"


class EventIds(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to an intake: the ``event_id`` of each event, in order (None for a
    tick, which has none)."""

    event_ids: list[str | None]


class TokenRequired(msgspec.Struct, frozen=True, kw_only=True):
    """The answer without the token."""

    status_code: int
    detail: str


def _refusal(text: str) -> ResponseSpec:
    return ResponseSpec(data_container=IntakeError, description=text)


#: The answers besides 201, for the OpenAPI document.
_REFUSALS: Final[dict[int, ResponseSpec]] = {
    400: _refusal("The body is empty, not JSON, or nested too deep."),
    401: ResponseSpec(data_container=TokenRequired, description="The token is missing or wrong."),
    409: _refusal(
        "The committed state refuses an event (its event_id is taken by another event, "
        "its ticket has no committed execution, ...), or its writer did: not stored."
    ),
    413: _refusal("The body is over max_body, or the list over max_batch events."),
    415: _refusal("The body's Content-Type is not JSON."),
    422: _refusal("An event is not valid: field, value and allowed say why."),
    503: _refusal("The server cannot store now (it stops, or a writer failed): retry."),
}


@post(
    "/api/v1/events",
    guards=[require_token],
    status_code=201,
    summary="Log events",
    description=(
        "One event (a JSON object) or a list of at most `max_batch` (100 by default), "
        'each in the schemas\' form: `{"type": "TradeAlert", "alert_type": "risk", '
        '"severity": "warning", "message": "..."}`. Each is validated, routed to the '
        "database of its type (this server's own, or, through its outbox, another "
        'process\'s) and answered with 201 `{"event_ids": [...]}` once durable '
        "(null for a tick, which has no id). A list is stored whole or not at all. "
        "Give each event an `event_id` (a UUIDv7) to make retries safe: an event "
        "posted again under its id is stored once, and answered 201 again."
    ),
    tags=["intake"],
    responses=_REFUSALS,
)
async def post_events(request: Request[Any, Any, Any]) -> Response[EventIds]:
    ctx = _context(request)
    try:
        _require_json(request)
        body = await _body(request, ctx.options.max_body)
        incoming, batch = events_from(decode_body(body), ctx.options.max_batch)
        event_ids = await store_events(ctx.node, incoming, batch=batch)
    except IntakeRefused as refused:
        return refusal_response(refused)
    return _created(event_ids)


async def _webhook_token(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A guard: the token in the ``Authorization`` header, or in the ``token`` query
    parameter (a webhook's sender may not be able to set headers)."""
    ctx: ApiContext = connection.app.state["ctx"]
    token, given = ctx.options.token, connection.query_params.get("token")
    if (
        token is not None
        and given is not None
        and hmac.compare_digest(given.encode(), token.encode())
    ):
        return
    await require_token(connection, handler)


@post(
    "/api/v1/webhooks/alert",
    guards=[_webhook_token],
    status_code=201,
    summary="Log an alert from a webhook",
    description=(
        "An alert (stored in `trade_alerts`) from a webhook such as TradingView's. The "
        "body is either a JSON object of the alert's fields (`message`, and optionally "
        "`symbol` (or `ticker`), `severity`: info|warning|critical, `alert_type`: "
        "risk|profit|system, `ticket`, `event_id`), or plain text: the message. Query "
        "parameters `symbol`, `severity` and `alert_type` fill in what the body does "
        "not say (defaults: severity info, alert_type system). The token may be given "
        "as the `token` query parameter, for senders that cannot set headers."
    ),
    tags=["intake"],
    responses=_REFUSALS,
)
async def post_webhook_alert(request: Request[Any, Any, Any]) -> Response[EventIds]:
    ctx = _context(request)
    try:
        body = await _body(request, ctx.options.max_body)
        fields = _alert_fields(request, body)
        try:
            event = event_from(fields, default_type="TradeAlert")
        except InvalidEvent as exc:
            raise IntakeRefused(
                422, str(exc), field=exc.field, value=exc.value, allowed=exc.reason
            ) from exc
        caller_id = fields.get("event_id") is not None
        event_ids = await store_events(
            ctx.node, [Incoming(event=event, caller_id=caller_id)], batch=False
        )
    except IntakeRefused as refused:
        return refusal_response(refused)
    return _created(event_ids)


def _context(request: Request[Any, Any, Any]) -> ApiContext:
    ctx: ApiContext = request.app.state["ctx"]
    return ctx


def _alert_fields(request: Request[Any, Any, Any], body: bytes) -> dict[str, Any]:
    """The fields of a webhook's alert: its JSON object, or its text as the message,
    completed by the query parameters and the defaults."""
    media_type = request.content_type[0]
    text = body.strip()
    fields: dict[str, Any]
    if media_type == _JSON or media_type.endswith("+json") or text.startswith(b"{"):
        data = decode_body(body)
        if not isinstance(data, dict):
            raise IntakeRefused(
                422,
                "a webhook's JSON body must be an object of the alert's fields "
                '(such as {"message": "...", "symbol": "EURUSD"}), or send plain text',
                value=data,
                allowed="a JSON object",
            )
        fields = dict(data)
        if "ticker" in fields and "symbol" not in fields:
            fields["symbol"] = fields.pop("ticker")
        if fields.get("type", "TradeAlert") != "TradeAlert":
            raise IntakeRefused(
                422,
                "a webhook posts alerts only: send other events to /api/v1/events",
                field="type",
                value=fields.get("type"),
                allowed="TradeAlert",
            )
    else:
        try:
            message = text.decode()
        except UnicodeDecodeError as exc:
            raise IntakeRefused(
                400, f"the body is not UTF-8 text ({exc})", allowed="UTF-8 text or JSON"
            ) from exc
        if not message:
            raise IntakeRefused(
                422,
                "the alert's message is empty: post its text, or a JSON object",
                field="message",
                value=message,
                allowed="a non-empty text",
            )
        fields = {"message": message}
    for name in ("symbol", "severity", "alert_type"):
        given = request.query_params.get(name)
        if given is not None and fields.get(name) is None:
            fields[name] = given
    for name, value in WEBHOOK_DEFAULTS.items():
        fields.setdefault(name, value)
    return fields


def _require_json(request: Request[Any, Any, Any]) -> None:
    """Refuse a body that does not say it is JSON (none said is taken as JSON)."""
    media_type = request.content_type[0]
    if media_type and media_type != _JSON and not media_type.endswith("+json"):
        raise IntakeRefused(
            415,
            f"the body is {media_type!r}: events are JSON; send them with "
            "Content-Type: application/json",
            field="Content-Type",
            value=media_type,
            allowed=_JSON,
        )


async def _body(request: Request[Any, Any, Any], max_body: int) -> bytes:
    """The request's body, refused past ``max_body`` bytes (announced by its
    Content-Length, or found reading a chunked one)."""
    try:
        return await request.body()
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        raise IntakeRefused(
            413,
            f"the body is larger than the limit of {max_body:,} bytes (max_body): send "
            "fewer events per request",
            allowed=f"at most {max_body} bytes",
        ) from exc


def _created(event_ids: list[str | None]) -> Response[EventIds]:
    return Response(EventIds(event_ids=event_ids), status_code=201, media_type=_JSON)


INTAKE_HANDLERS: list[ControllerRouterHandler] = [post_events, post_webhook_alert]
