"""What the read endpoints answer: one msgspec Struct per kind of item, and its page.

Every time is given twice: in nanoseconds since the Unix epoch (an integer, named as
it is stored: ``ts``, ``opened_ts``, ``ts_open``, ...) and as an ISO-8601 UTC text to
the nanosecond (``2026-01-31T12:00:00.123456789Z``): ``ts`` -> ``time``, ``X_ts`` ->
``X_at``, ``ts_open`` -> ``opened_at``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "AlertPage",
    "AlertView",
    "CandlePage",
    "CandleView",
    "ErrorBody",
    "ExecutionPage",
    "ExecutionView",
    "HealthPage",
    "HealthView",
    "JournalEntryView",
    "JournalSummaryView",
    "JournalView",
    "MonitoringPage",
    "MonitoringView",
    "PositionPage",
    "PositionView",
    "ProcessList",
    "ProcessView",
    "RecommendationPage",
    "RecommendationView",
    "RelayView",
    "SymbolPage",
    "SymbolView",
    "TickPage",
    "TickView",
    "WriterView",
]

Ns = Annotated[int, Meta(ge=0, description="ns since the Unix epoch, UTC")]
Iso = Annotated[str, Meta(description="the same time, ISO-8601 UTC, to the nanosecond")]
NextCursor = Annotated[
    str | None,
    Meta(description="pass as `cursor` for the next page; null: this is the last page"),
]


class _View(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ErrorBody(_View, frozen=True, kw_only=True):
    """An error: its HTTP status and what went wrong (``extra``: the parameters at fault)."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | dict[str, Any] | None = None


class TickView(_View, frozen=True, kw_only=True):
    """A stored tick (newest first unless ``order=asc``)."""

    symbol: str
    bid: float
    ask: float
    last: float | None
    volume: float
    source: str
    ts: Ns
    time: Iso


class TickPage(_View, frozen=True, kw_only=True):
    items: list[TickView]
    next_cursor: NextCursor


class CandleView(_View, frozen=True, kw_only=True):
    """A bar: ``complete`` false while its interval is in progress (it may still
    change: ``revision`` counts its changes)."""

    symbol: str
    timeframe: str
    ts_open: Ns
    opened_at: Iso
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int
    complete: bool
    revision: int
    first_tick_ts: Ns | None
    first_tick_at: Iso | None
    last_tick_ts: Ns | None
    last_tick_at: Iso | None
    ts: Ns
    time: Iso


class CandlePage(_View, frozen=True, kw_only=True):
    items: list[CandleView]
    next_cursor: NextCursor


class SymbolView(_View, frozen=True, kw_only=True):
    """A symbol with stored ticks, and its latest tick."""

    symbol: str
    bid: float
    ask: float
    last: float | None
    ts: Ns
    time: Iso


class SymbolPage(_View, frozen=True, kw_only=True):
    items: list[SymbolView]
    next_cursor: NextCursor


class PositionView(_View, frozen=True, kw_only=True):
    """A position's current state.

    ``state``: ``open`` (status open or modified) or ``closed``. Closed: ``realized_pnl``
    and ``outcome``. Open: ``unrealized_pnl`` computed from the latest stored tick of
    its symbol, ``(mark_price - entry_price) * volume * contract_size`` for a BUY and
    ``(entry_price - mark_price) * volume * contract_size`` for a SELL, where
    ``mark_price`` is that tick's bid for a BUY (the price it would close at) and its
    ask for a SELL; null without a tick (or without entry price, volume, direction).
    ``contract_size``: the symbol's units per lot as the server is configured
    (``--contract-size``; 1 by default). ``reported_unrealized_pnl``: the last
    unrealized P&L the bot stored with the position (and ``realized_pnl`` the one its
    close carried), as reported, whatever the contract size.
    """

    ticket: int
    symbol: str
    direction: Literal["BUY", "SELL"] | None
    status: Literal["open", "modified", "closed"]
    state: Literal["open", "closed"]
    entry_price: float | None
    volume: float | None
    stop_loss: float | None
    take_profit: float | None
    current_price: float | None
    close_price: float | None
    realized_pnl: float | None
    outcome: Literal["win", "loss", "breakeven"] | None
    unrealized_pnl: float | None
    contract_size: float
    mark_price: float | None
    mark_ts: Ns | None
    mark_at: Iso | None
    reported_unrealized_pnl: float | None
    recommendation_id: str | None
    opened_ts: Ns | None
    opened_at: Iso | None
    closed_ts: Ns | None
    closed_at: Iso | None
    ts: Ns
    time: Iso


class PositionPage(_View, frozen=True, kw_only=True):
    items: list[PositionView]
    next_cursor: NextCursor


class ExecutionView(_View, frozen=True, kw_only=True):
    """An execution: the trade the broker filled."""

    ticket: int
    symbol: str
    direction: Literal["BUY", "SELL"]
    entry_price: float
    volume: float
    stop_loss: float | None
    take_profit: float | None
    recommendation_id: str | None
    comment: str
    event_id: str
    ts: Ns
    time: Iso


class ExecutionPage(_View, frozen=True, kw_only=True):
    items: list[ExecutionView]
    next_cursor: NextCursor


class RecommendationView(_View, frozen=True, kw_only=True):
    """A recommendation with its current status, and its result once closed:
    ``outcome`` and ``realized_pnl`` as the recommendation's close gave them, else as
    its position's close did (``pnl_from``: ``recommendation``, ``position``, or null
    while it has none)."""

    recommendation_id: str
    symbol: str
    direction: Literal["BUY", "SELL"]
    entry_price: float
    stop_loss: float
    take_profit: float
    confidence: float
    reasoning: str
    timeframe: str
    source: str
    status: Literal["pending", "executed", "rejected", "expired", "closed"]
    ticket: int | None
    outcome: Literal["win", "loss", "breakeven"] | None
    realized_pnl: float | None
    pnl_from: Literal["recommendation", "position"] | None
    ts: Ns
    time: Iso
    updated_ts: Ns
    updated_at: Iso


class RecommendationPage(_View, frozen=True, kw_only=True):
    items: list[RecommendationView]
    next_cursor: NextCursor


class MonitoringView(_View, frozen=True, kw_only=True):
    """A trade-monitoring event (newest first)."""

    ticket: int
    symbol: str
    monitoring_type: str
    status: str
    details: str
    event_id: str
    ts: Ns
    time: Iso


class MonitoringPage(_View, frozen=True, kw_only=True):
    items: list[MonitoringView]
    next_cursor: NextCursor


class AlertView(_View, frozen=True, kw_only=True):
    """A trade alert (newest first)."""

    alert_type: Literal["risk", "profit", "system"]
    severity: Literal["info", "warning", "critical"]
    message: str
    symbol: str | None
    ticket: int | None
    event_id: str
    ts: Ns
    time: Iso


class AlertPage(_View, frozen=True, kw_only=True):
    items: list[AlertView]
    next_cursor: NextCursor


class HealthView(_View, frozen=True, kw_only=True):
    """A component's latest health report."""

    component: str
    status: Literal["ok", "degraded", "down"]
    details: dict[str, Any]
    event_id: str
    ts: Ns
    time: Iso


class HealthPage(_View, frozen=True, kw_only=True):
    items: list[HealthView]
    next_cursor: NextCursor


class RelayView(_View, frozen=True, kw_only=True):
    """A relay of a process: a source's outbox delivered into one of its databases."""

    source: str
    database: str
    pending: int
    lag_seconds: float
    delivered: int
    cursor: int


class WriterView(_View, frozen=True, kw_only=True):
    """A writer (database) of a process."""

    state: str
    events: int
    rows: int
    pending: int
    retries: int
    dead_letters: int
    last_error: str | None
    #: Rows retention deleted since the process started.
    pruned: int = 0


class ProcessView(_View, frozen=True, kw_only=True):
    """A process of the data directory, from the status file (``heartbeat_age``:
    seconds since its latest heartbeat, as of this answer)."""

    id: str
    roles: list[str]
    pid: int
    host: str
    state: Literal["running", "stopping", "stopped", "dead"]
    started: Ns
    started_at: Iso
    heartbeat: Ns
    heartbeat_at: Iso
    heartbeat_age: float
    interval: float
    stale_after: float
    events_written: int
    rows_written: int
    queue_depth: dict[str, int]
    relays: dict[str, RelayView]
    writers: dict[str, WriterView]
    last_error: str | None
    dead_reason: str | None
    #: The address of the HTTP API it serves, or null.
    http: str | None


class ProcessList(_View, frozen=True, kw_only=True):
    """The status file: when it was last written (0 and no items: no process ever
    ran in the data directory), and its processes (oldest first)."""

    updated: Ns
    updated_at: Iso
    items: list[ProcessView]


class JournalEntryView(_View, frozen=True, kw_only=True):
    """One row of a trade's life: the database and table it is stored in."""

    database: str
    table: str
    kind: str
    text: str
    fields: dict[str, Any]
    ts: Ns
    time: Iso


class JournalSummaryView(_View, frozen=True, kw_only=True):
    """A trade's figures (see ``tradebus journal``); null where one cannot be computed.

    ``pnl`` and ``unrealized_pnl``: as stored (reported by the bot, or by the monitor
    for its simulated closes). ``volume``: the position's at the close (the volume
    closed; while open, the latest). ``computed_pnl``, ``mae_money``, ``mfe_money``:
    price distance x volume x ``contract_size`` (the symbol's as the server is
    configured), in the quote currency, with ``volume`` for ``computed_pnl`` and, for
    the excursions, the volume held at each tick; ``mae``/``mfe``: price distances."""

    ticket: int
    symbol: str
    direction: str | None
    status: Literal["open", "closed"]
    opened_ts: Ns | None
    opened_at: Iso | None
    closed_ts: Ns | None
    closed_at: Iso | None
    duration_seconds: float | None
    entry_price: float | None
    exit_price: float | None
    initial_stop: float | None
    take_profit: float | None
    volume: float | None
    pnl: float | None
    unrealized_pnl: float | None
    outcome: str | None
    r_multiple: float | None
    mae: float | None
    mfe: float | None
    mae_r: float | None
    mfe_r: float | None
    ticks: int
    recommendation_id: str | None
    contract_size: float
    computed_pnl: float | None
    mae_money: float | None
    mfe_money: float | None


class JournalView(_View, frozen=True, kw_only=True):
    """A trade's journal: its summary and its first entries in time order (``limit`` of
    them at most; ``entries_total``: how many it has in all)."""

    summary: JournalSummaryView
    entries: list[JournalEntryView]
    entries_total: int
