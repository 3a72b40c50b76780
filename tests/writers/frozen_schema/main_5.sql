CREATE TABLE tick_imports (
    file_hash TEXT NOT NULL,
    symbol TEXT NOT NULL,
    filename TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    byte_offset INTEGER NOT NULL DEFAULT 0,
    ticks INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    first_ts INTEGER,
    last_ts INTEGER,
    status TEXT NOT NULL DEFAULT 'partial' CHECK (status IN ('partial', 'complete')),
    ts INTEGER NOT NULL,
    PRIMARY KEY (file_hash, symbol)
) WITHOUT ROWID;
