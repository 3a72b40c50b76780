"""Hand-written PostgreSQL that is not a mapping: the SQLite store's rules
(:mod:`writers._sqlite_rules`, :mod:`writers._sqlite_outbox`) said in PostgreSQL,
and the writer's own bookkeeping (the schema version, the tick seq, relay cursors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from schemas import TradeExecution

from ._sqlite_dialect import Statement

__all__ = [
    "ADVANCE_CURSOR",
    "CANDLES_V5",
    "COMMIT_COUNT",
    "CURSOR_OF",
    "DEAD_LETTER",
    "DEAD_LETTERS_OF",
    "M5_CANDLES_VIEW",
    "NEWER_CANDLE_WINS",
    "OPEN_POSITION",
    "OUTBOX_IDENTITY",
    "SCHEMA_TABLE",
    "SET_STATE_VALUES",
    "open_positions",
]

#: The upsert guard of a candle stored again: the one with the later ``ts`` holds.
NEWER_CANDLE_WINS: Final = "excluded.ts >= candles.ts"

M5_CANDLES_VIEW: Final = """CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts
    FROM candles WHERE timeframe = 'M5';
"""
CANDLES_V5: Final = """DROP VIEW m5_candles;
CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts,
        complete, revision, first_tick_ts, last_tick_ts
    FROM candles WHERE timeframe = 'M5';
"""

#: An execution opens its position (see the SQLite rule of the same name).
OPEN_POSITION: Final = """
    INSERT INTO trade_positions (ticket, symbol, direction, status, entry_price, volume,
        stop_loss, take_profit, current_price, recommendation_id, opened_ts, ts, event_id)
    SELECT ticket, symbol, direction, 'open', entry_price, volume, stop_loss,
        take_profit, entry_price, recommendation_id, ts, ts, event_id
    FROM trade_executions WHERE event_id = $1
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


#: The identity of the database's outbox (migration 4), as SQLite's: a random
#: positive number (this store forwards nothing, but the schema is the same).
OUTBOX_IDENTITY: Final = (
    "INSERT INTO writer_state (key, value) "
    "VALUES ('outbox_id', floor(random() * 4611686018427387903)::bigint);\n"
)

#: The schema version (PostgreSQL has no ``user_version``): one row.
SCHEMA_TABLE: Final = "tradebus_schema"
#: writer_state values set in a transaction (the tick seq, the commit count), as
#: literal rows ``{rows}``, run with the COMMIT in one round trip.
SET_STATE_VALUES: Final = (
    "INSERT INTO writer_state (key, value) VALUES {rows} "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
#: How many transactions this database's writers committed: each sets it, so that
#: one whose COMMIT's outcome was lost with the connection can be told apart.
COMMIT_COUNT: Final = "commits"
#: Relays commit their cursor with the events; a cursor never goes back.
ADVANCE_CURSOR: Final = (
    "INSERT INTO relay_cursors (source, cursor, events, ts) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (source) DO UPDATE SET "
    "cursor = greatest(relay_cursors.cursor, excluded.cursor), "
    "events = relay_cursors.events + excluded.events, ts = excluded.ts"
)
DEAD_LETTER: Final = (
    "INSERT INTO dead_letters (topic, seq, event_type, data, error, ts, origin, cursor) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
CURSOR_OF: Final = "SELECT cursor FROM relay_cursors WHERE source = $1"
#: Every cursor of a source and of its parts (``<source>@<part>``).
CURSORS_OF: Final = (
    "SELECT source, cursor FROM relay_cursors "
    "WHERE source = $1 OR (source >= $1 || '@' AND source < $1 || 'A')"
)
DEAD_LETTERS_OF: Final = (
    "SELECT cursor, coalesce(event_type, ''), error FROM dead_letters "
    "WHERE origin = $1 AND cursor > $2 AND cursor <= $3 ORDER BY cursor"
)
