"""The SQL of delivery between processes: a writer appends what other databases
store to its ``outbox``; a relay reads another file's outbox and commits what it
delivers with its cursor (``relay_cursors``)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADVANCE_CURSOR",
    "APPEND",
    "CURSOR_OF",
    "DEAD_LETTER",
    "DEAD_LETTERS_OF",
    "HELD",
    "OUTBOX_ID",
    "OUTBOX_IDENTITY",
    "OUTBOX_SEQ",
    "PENDING",
    "READ",
    "TRIM",
]

#: The identity of a file's outbox, made once with the outbox (migration 4): a relay
#: that finds another number under the same file name reads a new outbox (the file
#: was replaced), whose positions start again.
OUTBOX_IDENTITY: Final = (
    "INSERT INTO writer_state (key, value) VALUES ('outbox_id', abs(random() >> 1));\n"
)
OUTBOX_ID: Final = "SELECT value FROM writer_state WHERE key = 'outbox_id'"
#: The last position an outbox used (its rows may be gone: trimmed).
OUTBOX_SEQ: Final = "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
#: Per database, the first and last position the outbox holds.
HELD: Final = "SELECT destination, min(seq), max(seq) FROM outbox GROUP BY destination"
APPEND: Final = (
    "INSERT INTO outbox (seq, destination, topic, data, grp, ts) VALUES (?, ?, ?, ?, ?, ?)"
)
#: Relays commit their cursor with the events; a cursor never goes back.
ADVANCE_CURSOR: Final = (
    "INSERT INTO relay_cursors (source, cursor, events, ts) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (source) DO UPDATE SET cursor = max(cursor, excluded.cursor), "
    "events = events + excluded.events, ts = excluded.ts"
)
DEAD_LETTER: Final = (
    "INSERT INTO dead_letters (topic, seq, event_type, data, error, ts, origin, cursor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
CURSOR_OF: Final = "SELECT cursor FROM relay_cursors WHERE source = ?"
DEAD_LETTERS_OF: Final = (
    "SELECT cursor, coalesce(event_type, ''), error FROM dead_letters "
    "WHERE origin = ? AND cursor > ? AND cursor <= ? ORDER BY cursor"
)
#: A relay's read: the next rows for one database, in order.
READ: Final = (
    "SELECT seq, topic, data, grp, ts FROM outbox "
    "WHERE destination = ? AND seq > ? ORDER BY seq LIMIT ?"
)
#: How many rows for one database wait past a position, and since when.
PENDING: Final = "SELECT count(*), min(ts) FROM outbox WHERE destination = ? AND seq > ?"
TRIM: Final = "DELETE FROM outbox WHERE destination = ? AND seq <= ?"
