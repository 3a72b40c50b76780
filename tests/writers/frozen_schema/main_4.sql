ALTER TABLE dead_letters ADD COLUMN origin TEXT;
ALTER TABLE dead_letters ADD COLUMN cursor INTEGER;
CREATE INDEX dead_letters_origin_cursor ON dead_letters (origin, cursor);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    grp INTEGER NOT NULL DEFAULT 0,
    ts INTEGER NOT NULL
);
CREATE INDEX outbox_destination_seq ON outbox (destination, seq);
CREATE TABLE relay_cursors (
    source TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    events INTEGER NOT NULL,
    ts INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO writer_state (key, value) VALUES ('outbox_id', abs(random() >> 1));
