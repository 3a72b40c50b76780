"""The SQL of delivery between processes: a writer appends what other databases
store to its ``outbox``; a relay reads another file's outbox and commits what it
delivers with its cursor (``relay_cursors``)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADVANCE_CURSOR",
    "APPEND",
    "CONTINUE_AFTER",
    "CURSOR_OF",
    "DEAD_LETTER",
    "DEAD_LETTERS_OF",
    "HELD",
    "LAST_SEQ",
    "OUTBOX_ID",
    "OUTBOX_IDENTITY",
    "OUTBOX_SEQ",
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
#: Positions continue after the given one (SQLite keeps the last in sqlite_sequence).
CONTINUE_AFTER: Final = (
    "INSERT OR REPLACE INTO sqlite_sequence (rowid, name, seq) VALUES "
    "((SELECT rowid FROM sqlite_sequence WHERE name = 'outbox'), 'outbox', ?1)"
)
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
#: A relay's read: the next rows for one database, in order. The casts make each
#: column the type a relay expects whatever a hand-edited row holds (text where
#: bytes belong, a word where a number does): such a row is refused, never stuck.
READ: Final = (
    "SELECT seq, CAST(topic AS BLOB), CAST(data AS BLOB), CAST(grp AS INTEGER), "
    "CAST(ts AS INTEGER) FROM outbox "
    "WHERE destination = ? AND seq > ? ORDER BY seq LIMIT ?"
)
#: The last position used (rows past a relay's cursor are at most this many more).
LAST_SEQ: Final = "SELECT coalesce(max(seq), 0) FROM outbox"
TRIM: Final = "DELETE FROM outbox WHERE destination = ? AND seq <= ?"
