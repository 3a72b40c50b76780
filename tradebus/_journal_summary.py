"""A trade's figures for its journal: duration, P&L, R multiple and excursions (MAE
and MFE from the stored ticks), in price and in money."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from writers import MAIN

from ._contracts import ContractSizes

__all__ = ["JournalSummary", "RowReader", "summarize"]

#: Reads rows of a database: ``await read(database, sql, params)``, as dicts.
RowReader = Callable[[str, str, tuple[Any, ...]], Awaitable[list[dict[str, Any]]]]


class JournalSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A trade's figures (None where one cannot be computed: see the fields).

    Excursions are price distances from the entry, on the side of the book that
    would close the position (bid for a BUY, ask for a SELL), over the stored ticks
    from the execution to the close (or to the last tick, while open): ``mfe`` the
    best (>= 0), ``mae`` the worst against the trade (>= 0); None without ticks.
    ``r_multiple``: the exit's distance from the entry in units of the initial risk
    (entry to the initial stop: the execution's stop loss, else its
    recommendation's); None without a stop (or before the close).

    ``volume``: the position's volume at the close, the volume closed (while open, the
    latest): the execution's, or the last a position update set. Money is price
    distance x volume x ``contract_size`` (the symbol's, as the journal was asked; 1.0
    by default), in the symbol's quote currency: ``computed_pnl`` (the exit's, with
    ``volume``; None while open), ``mae_money`` and ``mfe_money`` (the worst and best
    of each tick's excursion x the volume held at that tick: a position update that
    sets a volume changes it from its ``ts`` on). ``pnl`` and ``unrealized_pnl`` are
    the ones stored (as the bot, or the monitor, reported them).
    """

    ticket: int
    symbol: str
    direction: str | None
    status: Literal["open", "closed"]
    opened_ts: int | None
    closed_ts: int | None
    duration_seconds: float | None
    entry_price: float | None
    exit_price: float | None
    initial_stop: float | None
    take_profit: float | None
    volume: float | None
    pnl: float | None
    #: While open: the last unrealized P&L stored for the position (None once closed).
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


async def summarize(
    ticket: int,
    read: RowReader,
    sizes: ContractSizes,
    execution: dict[str, Any] | None,
    position: dict[str, Any] | None,
    rec: dict[str, Any] | None,
    updates: list[dict[str, Any]],
    monitoring: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> JournalSummary:
    src = execution or position or {}
    symbol = str(
        src.get("symbol") or (updates or monitoring or alerts or [{"symbol": ""}])[0]["symbol"]
    )
    direction = src.get("direction") or (position or {}).get("direction")
    close = next((row for row in updates if row["status"] == "closed"), None)
    opened = (execution or {}).get("ts") or (position or {}).get("opened_ts")
    closed = close["ts"] if close else (position or {}).get("closed_ts")
    entry = src.get("entry_price")
    exit_price = None
    if close is not None:
        exit_price = close.get("close_price") or close.get("current_price")
    elif position is not None and position.get("status") == "closed":
        exit_price = position.get("close_price")
    stop = (execution or {}).get("stop_loss")
    if stop is None and rec is not None:
        stop = rec.get("stop_loss")
    pnl = (close or {}).get("realized_pnl")
    if pnl is None and position is not None:
        pnl = position.get("realized_pnl")
    sign = 1.0 if direction == "BUY" else -1.0 if direction == "SELL" else 0.0
    risk = sign * (entry - stop) if entry is not None and stop is not None and sign else None
    if risk is not None and risk <= 0:
        risk = None  # a stop on the wrong side of the entry: no initial risk
    r_multiple = None
    if risk and exit_price is not None and entry is not None:
        r_multiple = sign * (exit_price - entry) / risk
    status: Literal["open", "closed"] = "closed" if closed is not None else "open"
    size = sizes.size(symbol)
    # The volume held from each moment on: the execution's, then each update's.
    held = _volume_changes(src.get("volume"), updates, closed)
    volume = held[-1][1]  # at the close: the volume closed (while open: the latest)
    mae = mfe = mae_money = mfe_money = None
    count = 0
    if opened is not None and entry is not None and sign:
        stretches = await _stretches(read, symbol, sign, opened, closed, held)
        count = sum(n for _, _, n, _ in stretches)
        if stretches:
            lo, hi = min(s[0] for s in stretches), max(s[1] for s in stretches)
            mfe, mae = _excursions(sign, entry, lo, hi)
            if all(v is not None for _, _, _, v in stretches):
                moneys = [
                    [d * v * size for d in _excursions(sign, entry, a, b)]
                    for a, b, _, v in stretches
                    if v is not None
                ]
                mfe_money = max(m[0] for m in moneys)
                mae_money = max(m[1] for m in moneys)
    outcome = (rec or {}).get("outcome")
    if outcome is None and pnl is not None and closed is not None:
        outcome = "win" if pnl > 0 else "loss" if pnl < 0 else "breakeven"
    computed = None
    known = exit_price is not None and entry is not None and volume is not None
    if closed is not None and known and sign:
        computed = sign * (exit_price - entry) * volume * size  # type: ignore[operator]
    return JournalSummary(
        ticket=ticket,
        symbol=symbol,
        direction=direction,
        status=status,
        opened_ts=opened,
        closed_ts=closed,
        duration_seconds=None if opened is None or closed is None else (closed - opened) / 1e9,
        entry_price=entry,
        exit_price=exit_price,
        initial_stop=stop,
        take_profit=src.get("take_profit"),
        volume=volume,
        pnl=pnl,
        unrealized_pnl=None if closed is not None else (position or {}).get("unrealized_pnl"),
        outcome=outcome,
        r_multiple=r_multiple,
        mae=mae,
        mfe=mfe,
        mae_r=None if mae is None or not risk else mae / risk,
        mfe_r=None if mfe is None or not risk else mfe / risk,
        ticks=count,
        recommendation_id=(execution or position or {}).get("recommendation_id")
        or (rec or {}).get("recommendation_id"),
        contract_size=size,
        computed_pnl=computed,
        mae_money=mae_money,
        mfe_money=mfe_money,
    )


def _volume_changes(
    first: float | None, updates: list[dict[str, Any]], closed: int | None
) -> list[tuple[int | None, float | None]]:
    """(from ts, volume) in time order: ``first`` (None: from the opening), then the
    volume of each position update that sets one, up to the close."""
    held: list[tuple[int | None, float | None]] = [(None, first)]
    for row in updates:  # in (ts, event_id) order
        if row.get("volume") is not None and (closed is None or row["ts"] <= closed):
            held.append((int(row["ts"]), float(row["volume"])))
    return held


async def _stretches(
    read: RowReader,
    symbol: str,
    sign: float,
    opened: int,
    closed: int | None,
    held: list[tuple[int | None, float | None]],
) -> list[tuple[float, float, int, float | None]]:
    """(lowest, highest, ticks, volume) of the closing-side prices of each stretch of
    the trade's life at one volume that has ticks: from ``opened`` to ``closed``
    (both included; to the last tick while open)."""
    starts: list[tuple[int, float | None]] = []
    for ts, volume in held:
        at = opened if ts is None else max(ts, opened)
        if starts and starts[-1][0] == at:
            starts[-1] = (at, volume)  # set again at the same moment: the later one
        else:
            starts.append((at, volume))
    side = "bid" if sign > 0 else "ask"
    end = closed if closed is not None else 2**63 - 1
    found = []
    for i, (start, volume) in enumerate(starts):
        until, op = (starts[i + 1][0], "<") if i + 1 < len(starts) else (end, "<=")
        rows = await read(
            MAIN.name,
            f"SELECT min({side}) AS lo, max({side}) AS hi, count(*) AS n FROM unified_ticks "
            f"WHERE symbol = ? AND ts >= ? AND ts {op} ?",
            (symbol, start, until),
        )
        if rows and rows[0]["n"]:
            found.append((float(rows[0]["lo"]), float(rows[0]["hi"]), int(rows[0]["n"]), volume))
    return found


def _excursions(sign: float, entry: float, lo: float, hi: float) -> tuple[float, float]:
    """(MFE, MAE): the best and the worst price distance from ``entry`` (>= 0) of the
    closing-side prices between ``lo`` and ``hi``."""
    best, worst = (hi - entry, entry - lo) if sign > 0 else (entry - lo, hi - entry)
    return max(0.0, best), max(0.0, worst)
