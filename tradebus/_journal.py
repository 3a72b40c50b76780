"""The trade journal: the whole life of one trade across the three databases.

Read-only: each database is read through a read-only connection (one snapshot per
database, so it works while the role processes write), never through a writer.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import aiosqlite
import anyio
import msgspec

from writers import ANALYSIS, LOGS, MAIN, open_reader

from ._contracts import ContractSizes
from ._exceptions import TradebusError
from ._journal_summary import JournalSummary, summarize
from ._topology import Topology

if TYPE_CHECKING:
    from ._node import Node

__all__ = [
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalSummary",
    "closed_trades",
    "journal",
]


class JournalError(TradebusError):
    """A journal that cannot be made (no such trade, no such data directory)."""


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a trade's life, from the database and table it is stored in."""

    ts: int
    database: str
    table: str
    kind: str
    text: str
    fields: dict[str, Any]


class Journal(msgspec.Struct, frozen=True, kw_only=True):
    """A trade's entries in time order, and its summary."""

    summary: JournalSummary
    entries: tuple[JournalEntry, ...]


_DB_NAMES = {MAIN.name: MAIN.filename, ANALYSIS.name: ANALYSIS.filename, LOGS.name: LOGS.filename}


def _paths(where: Node | str | os.PathLike[str]) -> dict[str, Path]:
    if not isinstance(where, str | os.PathLike):  # a node: its own files
        return {name: where.path(name) for name in _DB_NAMES}
    data_dir = Path(where)
    if not data_dir.is_dir():
        raise JournalError(f"no data directory {data_dir}: give the one the databases are in")
    topology = Topology.default()
    return {name: data_dir / topology.spec(name).filename for name in _DB_NAMES}


class _Snapshots:
    """One read-only connection per database, each read in one transaction (a
    consistent snapshot of that file) until :meth:`refresh`; a file that does not
    exist yet, or lacks a table, reads as empty."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self._stack = AsyncExitStack()
        self._conns: dict[str, aiosqlite.Connection | None] = {}

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.refresh()
        await self._stack.aclose()

    async def refresh(self) -> None:
        """End every snapshot: the next read sees what was committed since."""
        for conn in self._conns.values():
            if conn is not None and conn.in_transaction:
                await conn.execute("COMMIT")

    async def rows(self, db: str, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        if db not in self._conns:
            path = self.paths[db]
            exists = await anyio.Path(path).exists()
            conn = await self._stack.enter_async_context(open_reader(path)) if exists else None
            self._conns[db] = conn
        conn = self._conns[db]
        if conn is None:
            return []
        if not conn.in_transaction:
            await conn.execute("BEGIN")
        try:
            cursor = await conn.execute(sql, params)
        except (sqlite3.OperationalError, aiosqlite.OperationalError) as exc:
            if "no such table" in str(exc):
                return []
            raise JournalError(f"cannot read {self.paths[db]}: {exc}") from exc
        names = [d[0] for d in cursor.description]
        rows = await cursor.fetchall()
        await cursor.close()
        return [dict(zip(names, row, strict=True)) for row in rows]


def _entry(db: str, table: str, kind: str, text: str, row: dict[str, Any]) -> JournalEntry:
    fields = {k: v for k, v in row.items() if v is not None and k != "id"}
    return JournalEntry(
        ts=int(row["ts"]), database=db, table=table, kind=kind, text=text, fields=fields
    )


def _sizes(
    where: Node | str | os.PathLike[str], contract_sizes: Mapping[str, float] | None
) -> ContractSizes:
    if contract_sizes is not None:
        return ContractSizes(contract_sizes)
    if not isinstance(where, str | os.PathLike):
        return where.contract_sizes
    return ContractSizes()


async def journal(
    where: Node | str | os.PathLike[str],
    ticket: int,
    *,
    contract_sizes: Mapping[str, float] | None = None,
) -> Journal:
    """The journal of ``ticket``: its recommendation, execution, position changes,
    monitoring events, alerts, close and outcome, in time order, with its summary.

    :param where: a node (its data directory) or a data directory.
    :param contract_sizes: units per lot by symbol (``"*"``: every other symbol; see
        :class:`ContractSizes`) for the summary's money figures; None: the node's, or
        1.0 for every symbol with a data directory.
    :raises JournalError: if no database holds anything of ``ticket``.
    :raises TradebusError: for a bad contract size, naming it.
    """
    sizes = _sizes(where, contract_sizes)
    async with _Snapshots(_paths(where)) as dbs:
        return await _journal(dbs, ticket, sizes)


async def _journal(dbs: _Snapshots, ticket: int, sizes: ContractSizes) -> Journal:
    main, analysis, logs = MAIN.name, ANALYSIS.name, LOGS.name
    rows = dbs.rows
    executions = await rows(main, "SELECT * FROM trade_executions WHERE ticket = ?", (ticket,))
    positions = await rows(main, "SELECT * FROM trade_positions WHERE ticket = ?", (ticket,))
    updates = await rows(
        main, "SELECT * FROM position_updates WHERE ticket = ? ORDER BY ts, event_id", (ticket,)
    )
    monitoring = await rows(
        logs, "SELECT * FROM trade_monitoring WHERE ticket = ? ORDER BY ts", (ticket,)
    )
    alerts = await rows(logs, "SELECT * FROM trade_alerts WHERE ticket = ? ORDER BY ts", (ticket,))
    execution = executions[0] if executions else None
    position = positions[0] if positions else None
    rec_id = (execution or position or {}).get("recommendation_id")
    recs = await rows(
        analysis,
        "SELECT * FROM trade_recommendations WHERE recommendation_id = ? OR ticket = ?",
        (rec_id, ticket),
    )
    rec = recs[0] if recs else None
    if rec is not None:
        rec_id = rec["recommendation_id"]
    rec_updates = await rows(
        analysis,
        "SELECT * FROM recommendation_updates WHERE recommendation_id = ? ORDER BY ts, event_id",
        (rec_id,),
    )
    if not (execution or position or updates or monitoring or alerts):
        raise JournalError(
            f"no trade with ticket {ticket} in {dbs.paths[main].parent}: no execution, position, "
            "monitoring event or alert names it"
        )
    entries = _entries(rec, execution, updates, rec_updates, monitoring, alerts)
    summary = await summarize(
        ticket, dbs.rows, sizes, execution, position, rec, updates, monitoring, alerts
    )
    return Journal(summary=summary, entries=tuple(entries))


def _entries(
    rec: dict[str, Any] | None,
    execution: dict[str, Any] | None,
    updates: list[dict[str, Any]],
    rec_updates: list[dict[str, Any]],
    monitoring: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
) -> list[JournalEntry]:
    out: list[tuple[int, int, JournalEntry]] = []

    def add(order: int, entry: JournalEntry) -> None:
        out.append((entry.ts, order, entry))

    if rec is not None:
        text = (
            f"{rec['direction']} {rec['symbol']} at {rec['entry_price']:g}, SL "
            f"{rec['stop_loss']:g}, TP {rec['take_profit']:g}, confidence {rec['confidence']:g}"
        )
        add(0, _entry("analysis", "trade_recommendations", "recommendation", text, rec))
    for row in rec_updates:
        text = f"recommendation {row['status']}" + (
            f": {row['outcome']}, P&L {row['realized_pnl']:+g}" if row.get("outcome") else ""
        )
        kind = "outcome" if row["status"] == "closed" else "recommendation update"
        add(5, _entry("analysis", "recommendation_updates", kind, text, row))
    if execution is not None:
        stops = "".join(
            f", {name} {execution[col]:g}"
            for name, col in (("SL", "stop_loss"), ("TP", "take_profit"))
            if execution.get(col) is not None
        )
        text = (
            f"executed {execution['direction']} {execution['volume']:g} {execution['symbol']} "
            f"at {execution['entry_price']:g}{stops}"
        )
        add(1, _entry("main", "trade_executions", "execution", text, execution))
    for row in updates:
        if row["status"] == "closed":
            pnl = row.get("realized_pnl")
            text = f"closed at {row.get('close_price') or row['current_price']:g}" + (
                f", P&L {pnl:+g}" if pnl is not None else ""
            )
            add(4, _entry("main", "position_updates", "close", text, row))
            continue
        parts = [f"price {row['current_price']:g}"]
        parts += [
            f"{name} {row[col]:g}"
            for name, col in (("SL", "stop_loss"), ("TP", "take_profit"), ("P&L", "unrealized_pnl"))
            if row.get(col) is not None
        ]
        add(2, _entry("main", "position_updates", "position update", ", ".join(parts), row))
    for row in monitoring:
        text = f"{row['monitoring_type']} ({row['status']})" + (
            f": {row['details']}" if row.get("details") else ""
        )
        add(3, _entry("logs", "trade_monitoring", "monitoring", text, row))
    for row in alerts:
        text = f"{row['severity']} {row['alert_type']} alert: {row['message']}"
        add(3, _entry("logs", "trade_alerts", "alert", text, row))
    out.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in out]


async def closed_trades(
    where: Node | str | os.PathLike[str],
    *,
    since: int = 0,
    symbol: str | None = None,
    contract_sizes: Mapping[str, float] | None = None,
) -> list[JournalSummary]:
    """The summaries of the trades closed at or after ``since`` (ns), of ``symbol``
    (or all), in the order they closed (money figures with ``contract_sizes``: see
    :func:`journal`)."""
    sizes = _sizes(where, contract_sizes)
    sql = "SELECT ticket FROM trade_positions WHERE status = 'closed' AND closed_ts >= ?"
    params: tuple[Any, ...] = (since,)
    if symbol is not None:
        sql += " AND symbol = ?"
        params += (symbol,)
    async with _Snapshots(_paths(where)) as dbs:
        rows = await dbs.rows(MAIN.name, sql + " ORDER BY closed_ts, ticket", params)
        summaries = []
        for row in rows:
            await dbs.refresh()  # each trade's rows from one look at each database
            summaries.append((await _journal(dbs, int(row["ticket"]), sizes)).summary)
    return summaries
