"""Hand-written SQLite SQL that is not a mapping: what the writer runs besides the
inserts the mappings generate (the schema's triggers are in
:mod:`writers._sqlite_integrity`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from schemas import TradeExecution

from ._sqlite_dialect import Statement

__all__ = ["CANDLES_V5", "M5_CANDLES_VIEW", "NEWER_CANDLE_WINS", "OPEN_POSITION", "open_positions"]

#: The upsert guard of a candle stored again: the one with the later ``ts`` holds.
NEWER_CANDLE_WINS: Final = "excluded.ts >= candles.ts"

#: The M5 candles, as a view (made by migration 1 of the main database).
M5_CANDLES_VIEW: Final = """CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts
    FROM candles WHERE timeframe = 'M5';
"""

#: The M5 candles view as migration 5 makes it: with the columns that migration adds
#: to the candles (whether complete, the revision, the first and last tick's times).
CANDLES_V5: Final = """DROP VIEW m5_candles;
CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts,
        complete, revision, first_tick_ts, last_tick_ts
    FROM candles WHERE timeframe = 'M5';
"""

#: An execution opens its position, from the row stored (none for a skipped replay:
#: the schema's triggers skip a replay, refuse a replay with other content, and refuse
#: any other execution on a ticket an execution opened). If updates for the ticket
#: arrived first, they made a row with no direction: keep their state and fill in what
#: the execution knows. A row with a direction is never changed here (so running this
#: again changes nothing). Its parameter is the execution's event_id.
OPEN_POSITION: Final = """
    INSERT INTO trade_positions (ticket, symbol, direction, status, entry_price, volume,
        stop_loss, take_profit, current_price, recommendation_id, opened_ts, ts, event_id)
    SELECT ticket, symbol, direction, 'open', entry_price, volume, stop_loss,
        take_profit, entry_price, recommendation_id, ts, ts, event_id
    FROM trade_executions WHERE event_id = ?
    ON CONFLICT (ticket) DO UPDATE SET
        direction = excluded.direction,
        entry_price = excluded.entry_price,
        opened_ts = excluded.opened_ts,
        recommendation_id = coalesce(excluded.recommendation_id,
                                     trade_positions.recommendation_id),
        volume = coalesce(trade_positions.volume, excluded.volume),
        stop_loss = coalesce(trade_positions.stop_loss, excluded.stop_loss),
        take_profit = coalesce(trade_positions.take_profit, excluded.take_profit)
    WHERE trade_positions.direction IS NULL
"""


def open_positions(events: Sequence[TradeExecution]) -> list[Statement]:
    """The statement that opens the position of each execution just inserted."""
    return [("trade_positions", OPEN_POSITION, [(e.event_id,) for e in events])]
