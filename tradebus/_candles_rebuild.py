"""Rebuilding a symbol's candles from its stored ticks, and storing what differs.

The bars are rebuilt by the service's own engine from ``unified_ticks`` in the order
the ticks were stored (timestamp, then arrival), compared with the stored bars, and
only those that differ (or are missing) are published, each as a revision of the
stored one. The bot's database has one writer: when no process holds its role, the
rebuild takes the role's lock and writes itself; when one does, the rebuild publishes
through an outbox of its own, which that process's relay stores.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from schemas import Candle, Timeframe
from writers import WriterLockError, open_reader

from ._candles_engine import NS, CandleEngine
from ._candles_options import CandlePrice
from ._candles_store import BAR_COLUMNS, stored_ticks
from ._exceptions import TradebusError
from ._lock_refusal import expected_lock_refusal
from ._open_node import open_node
from ._topology import Topology

__all__ = ["RebuildReport", "rebuild_candles"]


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a rebuild found, per timeframe: ``{timeframe: count}`` each.

    :param agreed: bars stored exactly as rebuilt.
    :param changed: stored bars that differed, stored again (a revision each).
    :param added: bars missing, stored.
    :param completed: bars stored incomplete that the rebuild completed (same values).
    :param kept: stored bars left alone: they counted more ticks than are stored (the
        ticks were pruned since), or no tick of their interval is stored.
    :param in_progress: bars whose interval has not ended (plus the grace): the live
        service's, left alone.
    :param ticks: the stored ticks read.
    :param via: ``"writer"`` (the rebuild held the role's lock), ``"outbox"`` (the
        role's process stores them), or ``""`` (nothing to store, or a dry run).
    :param delivered: whether what went through the outbox is stored already.
    """

    agreed: dict[str, int]
    changed: dict[str, int]
    added: dict[str, int]
    completed: dict[str, int]
    kept: dict[str, int]
    in_progress: dict[str, int]
    ticks: int
    via: str
    delivered: bool


def _differs(candle: Candle, row: Sequence[object]) -> bool:
    _, o, h, low, c, volume, n, _, first, last, _ = row
    return (
        (candle.open, candle.high, candle.low, candle.close, candle.tick_count) != (o, h, low, c, n)
        or (candle.first_tick_ts, candle.last_tick_ts) != (first, last)
        or not math.isclose(candle.volume, float(volume), rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]
    )


async def rebuild_candles(
    data_dir: str | os.PathLike[str],
    symbol: str,
    timeframes: Sequence[Timeframe],
    *,
    price: CandlePrice = "bid",
    since: int = 0,
    grace: float = 2.0,
    dry_run: bool = False,
    delivery_timeout: float = 30.0,
) -> RebuildReport:
    """Rebuild ``symbol``'s bars of ``timeframes`` (shortest first) from the ticks stored
    from ``since`` on (ns; moved back to the start of the longest timeframe's interval,
    so that every bar rebuilt is whole), and store those that differ.

    ``delivery_timeout``: how long to wait for the bot's process to store what went
    through the outbox (the report says whether it did).

    :raises TradebusError: if the bot's database does not exist.
    """
    topology = Topology.default()
    spec = topology.home(Candle)
    assert spec is not None
    path = Path(data_dir) / spec.filename
    if not path.exists():
        raise TradebusError(f"{path} does not exist: there are no ticks to rebuild candles from")
    stamp = time.time_ns
    engine = CandleEngine(timeframes, stamp)
    start = since - since % max(engine.lengths)
    counts: dict[str, dict[str, int]] = {
        name: dict.fromkeys(timeframes, 0)
        for name in ("agreed", "changed", "added", "completed", "kept", "in_progress")
    }
    ticks = 0
    async with open_reader(path) as conn:
        async for chunk in stored_ticks(conn, symbol, start, price):
            ticks += len(chunk)
            for ts, value, volume in chunk:
                if value is not None:
                    engine.add(symbol, ts, float(value), volume)
        engine.close_all()
        rows = await conn.execute_fetchall(
            f"SELECT timeframe, {BAR_COLUMNS} FROM candles WHERE symbol = ? AND ts_open >= ?",
            (symbol, start),
        )
    stored = {(str(r[0]), int(r[1])): tuple(r[1:]) for r in rows}
    now = time.time_ns()
    publish: list[Candle] = []
    rebuilt: set[tuple[str, int]] = set()
    for candle in engine.finals:
        key = (candle.timeframe, candle.ts_open)
        rebuilt.add(key)
        length = engine.lengths[engine.timeframes.index(candle.timeframe)]
        row = stored.get(key)
        if candle.ts_open + length + int(grace * NS) > now:
            counts["in_progress"][candle.timeframe] += 1
        elif row is None:
            counts["added"][candle.timeframe] += 1
            publish.append(candle)
        elif candle.tick_count < int(row[6]):
            counts["kept"][candle.timeframe] += 1
        elif _differs(candle, row):
            counts["changed"][candle.timeframe] += 1
            publish.append(msgspec.structs.replace(candle, revision=int(row[7]) + 1))
        elif not row[10]:
            counts["completed"][candle.timeframe] += 1
            publish.append(msgspec.structs.replace(candle, revision=int(row[7])))
        else:
            counts["agreed"][candle.timeframe] += 1
    for tf, ts_open in stored:
        if (tf, ts_open) not in rebuilt and tf in counts["kept"]:
            counts["kept"][tf] += 1
    via, delivered = "", False
    if publish and not dry_run:
        via, delivered = await _store(data_dir, topology, publish, delivery_timeout)
    return RebuildReport(**counts, ticks=ticks, via=via, delivered=delivered)


async def _store(
    data_dir: str | os.PathLike[str], topology: Topology, candles: list[Candle], wait: float
) -> tuple[str, bool]:
    """Store ``candles`` as the bot's database's one writer, or through an outbox."""
    spec = topology.home(Candle)
    assert spec is not None
    role = topology.owner(spec)
    try:
        with expected_lock_refusal():
            async with open_node(
                data_dir, roles=[role], status_file=False, candles=(), monitor=None
            ) as node:
                for candle in candles:
                    await node.bus.publish(candle)
                await node.bus.flush()
        return "writer", True
    except WriterLockError:
        pass  # the role's process runs: its relay stores what this outbox holds
    async with open_node(data_dir, roles=(), status_file=False) as node:
        for candle in candles:
            await node.bus.publish(candle)
        try:
            await node.delivered(wait)
        except TimeoutError:
            return "outbox", False
    return "outbox", True
