"""What the journal endpoint answers: a trade's summary and the entries of its life."""

from __future__ import annotations

from typing import Any, Literal

from ._views_base import Iso, Ns, View

__all__ = ["JournalEntryView", "JournalSummaryView", "JournalView"]


class JournalEntryView(View, frozen=True, kw_only=True):
    """One row of a trade's life: the database and table it is stored in."""

    database: str
    table: str
    kind: str
    text: str
    fields: dict[str, Any]
    ts: Ns
    time: Iso


class JournalSummaryView(View, frozen=True, kw_only=True):
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


class JournalView(View, frozen=True, kw_only=True):
    """A trade's journal: its summary and its first entries in time order (``limit`` of
    them at most; ``entries_total``: how many it has in all)."""

    summary: JournalSummaryView
    entries: list[JournalEntryView]
    entries_total: int
