ALTER TABLE candles ADD COLUMN complete INTEGER NOT NULL DEFAULT 1;
ALTER TABLE candles ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE candles ADD COLUMN first_tick_ts INTEGER;
ALTER TABLE candles ADD COLUMN last_tick_ts INTEGER;
DROP VIEW m5_candles;
CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts,
        complete, revision, first_tick_ts, last_tick_ts
    FROM candles WHERE timeframe = 'M5';
