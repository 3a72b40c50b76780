ALTER TABLE candles ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
ALTER TABLE candles ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE candles ADD COLUMN first_tick_ts INTEGER;
ALTER TABLE candles ADD COLUMN last_tick_ts INTEGER;
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
DROP VIEW m5_candles;
CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts,
        complete, revision, first_tick_ts, last_tick_ts
    FROM candles WHERE timeframe = 'M5';
