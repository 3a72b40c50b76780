"""``/monitoring``, ``/alerts``, ``/health``, ``/processes``: what the system says of
itself and of its trades."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import get
from litestar.exceptions import ServiceUnavailableException
from litestar.types import ControllerRouterHandler

from .._exceptions import TradebusError
from .._status_file import StatusFileTooNew, read_status
from ._pages import iso, parse_time
from ._queries_trades import alerts_page, health_page, monitoring_page
from ._routes_params import (
    RESPONSES,
    Ctx,
    Cursor,
    Limit,
    OptionalSymbol,
    Since,
    TicketFilter,
    check_choice,
    check_symbol_param,
    choice,
    page_limit,
)
from ._views_logs import (
    AlertPage,
    AlertView,
    HealthPage,
    HealthView,
    MonitoringPage,
    MonitoringView,
)
from ._views_processes import ProcessList, ProcessView, RelayView, WriterView

__all__ = ["LOG_HANDLERS"]

logger = logging.getLogger("tradebus.api")

_LOGS: Final = "logs"
_SEVERITIES: Final = ("info", "warning", "critical", "all")
_TYPES: Final = ("risk", "profit", "system", "all")
_PROCESS_STATES: Final = ("running", "stopping", "stopped", "dead", "all")


def _filters(**given: Any) -> list[tuple[str, Any]]:
    return [(name, value) for name, value in given.items() if value not in (None, "all")]


@get(
    "/monitoring",
    summary="Trade-monitoring events",
    description="Newest first.",
    responses=RESPONSES,
)
async def monitoring(
    ctx: Ctx,
    since: Since = None,
    symbol: OptionalSymbol = None,
    ticket: TicketFilter = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> MonitoringPage:
    check_symbol_param("symbol", symbol)
    lo = parse_time("since", since) or 0
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"monitoring|{lo}|{symbol}|{ticket}"
    after = cursors.read(scope, cursor, (int, int))
    filters = _filters(symbol=symbol, ticket=ticket)
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _LOGS, lambda conn: monitoring_page(conn, filters, lo, after, size), []
    )
    items = [
        MonitoringView(**{k: v for k, v in r.items() if k != "_key"}, time=iso(r["ts"]))
        for r in rows[:size]
    ]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = cursors.make(scope, (last["ts"], last["_key"])) if last else None
    return MonitoringPage(items=items, next_cursor=next_cursor)


@get(
    "/alerts",
    summary="Trade alerts",
    description="Newest first.",
    responses=RESPONSES,
)
async def alerts(
    ctx: Ctx,
    since: Since = None,
    severity: Annotated[str, choice(_SEVERITIES, "only this severity", "all")] = "all",
    type: Annotated[str, choice(_TYPES, "only this kind of alert", "all")] = "all",
    symbol: OptionalSymbol = None,
    ticket: TicketFilter = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> AlertPage:
    check_choice("severity", severity, _SEVERITIES)
    check_choice("type", type, _TYPES)
    check_symbol_param("symbol", symbol)
    lo = parse_time("since", since) or 0
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    scope = f"alerts|{lo}|{severity}|{type}|{symbol}|{ticket}"
    after = cursors.read(scope, cursor, (int, int))
    filters = _filters(severity=severity, alert_type=type, symbol=symbol, ticket=ticket)
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _LOGS, lambda conn: alerts_page(conn, filters, lo, after, size), []
    )
    items = [
        AlertView(**{k: v for k, v in r.items() if k != "_key"}, time=iso(r["ts"]))
        for r in rows[:size]
    ]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = cursors.make(scope, (last["ts"], last["_key"])) if last else None
    return AlertPage(items=items, next_cursor=next_cursor)


def _details(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = msgspec.json.decode(text or "{}")
    except (msgspec.DecodeError, TypeError):
        return {"text": str(text)}
    return value if isinstance(value, dict) else {"value": value}


@get(
    "/health",
    summary="Each component's latest health report",
    description="In component name order.",
    responses=RESPONSES,
)
async def health(ctx: Ctx, limit: Limit = None, cursor: Cursor = None) -> HealthPage:
    size = page_limit(ctx, limit)
    cursors = ctx.reads.cursors
    after = cursors.read("health", cursor, (str,))
    rows: list[dict[str, Any]] = await ctx.reads.pools.read(
        _LOGS, lambda conn: health_page(conn, None if after is None else after[0], size), []
    )
    items = [
        HealthView(
            component=r["component"],
            status=r["status"],
            details=_details(r["details"]),
            event_id=r["event_id"],
            ts=r["ts"],
            time=iso(r["ts"]),
        )
        for r in rows[:size]
    ]
    more = len(rows) > size
    next_cursor = cursors.make("health", (rows[size - 1]["component"],)) if more else None
    return HealthPage(items=items, next_cursor=next_cursor)


@get(
    "/processes",
    summary="The processes of the data directory (its status file)",
    description=(
        "Oldest first; heartbeat_age: seconds since each one's latest heartbeat. A process "
        "gone or silent past its stale_after is 'dead'."
    ),
    responses=RESPONSES,
)
async def processes(
    ctx: Ctx,
    state_: Annotated[
        str, choice(_PROCESS_STATES, "only processes in this state", "all", query="state")
    ] = "all",
) -> ProcessList:
    state = state_
    check_choice("state", state, _PROCESS_STATES)
    try:
        status = await anyio.to_thread.run_sync(read_status, ctx.node.data_dir)
    except StatusFileTooNew as exc:
        raise ServiceUnavailableException(
            "the status file was written by a newer tradebus: upgrade this server"
        ) from exc
    except TradebusError as exc:  # unreadable: its path and error stay in the log
        logger.warning("api: /processes: %s", exc)
        raise ServiceUnavailableException(
            "the status file cannot be read now (the server's log says why); try again"
        ) from exc
    now = time.time_ns()
    items = [
        ProcessView(
            id=p.id,
            roles=list(p.roles),
            pid=p.pid,
            host=p.host,
            state=p.state,
            started=p.started,
            started_at=iso(p.started),
            heartbeat=p.heartbeat,
            heartbeat_at=iso(p.heartbeat),
            heartbeat_age=max(0.0, (now - p.heartbeat) / 1e9),
            interval=p.interval,
            stale_after=p.stale_after,
            events_written=p.events_written,
            rows_written=p.rows_written,
            queue_depth=dict(p.queue_depth),
            relays={k: RelayView(**msgspec.structs.asdict(v)) for k, v in p.relays.items()},
            writers={k: WriterView(**msgspec.structs.asdict(v)) for k, v in p.writers.items()},
            last_error=p.last_error,
            dead_reason=p.dead_reason,
            http=p.http,
        )
        for p in sorted(status.processes.values(), key=lambda p: (p.started, p.id))
        if state in ("all", p.state)
    ]
    return ProcessList(updated=status.updated, updated_at=iso(status.updated), items=items)


LOG_HANDLERS: list[ControllerRouterHandler] = [monitoring, alerts, health, processes]
