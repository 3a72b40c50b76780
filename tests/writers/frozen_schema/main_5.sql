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
CREATE TABLE exit_rules (
    id INTEGER PRIMARY KEY,
    ticket INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    trailing_distance REAL,
    trailing_atr REAL,
    atr_timeframe TEXT NOT NULL DEFAULT 'M5',
    atr_period INTEGER NOT NULL DEFAULT 14,
    trailing_activation REAL,
    trailing_step REAL NOT NULL DEFAULT 0,
    breakeven_trigger REAL,
    breakeven_offset REAL NOT NULL DEFAULT 0,
    ts INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE
);
CREATE INDEX exit_rules_ticket_event_id ON exit_rules (ticket, event_id);
CREATE TABLE oco_groups (
    id INTEGER PRIMARY KEY,
    group_id TEXT NOT NULL,
    tickets TEXT NOT NULL,
    ts INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE
);
CREATE INDEX oco_groups_group_id ON oco_groups (group_id);
CREATE TABLE monitor_marks (
    id INTEGER PRIMARY KEY,
    ticket INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    kind TEXT NOT NULL,
    level REAL NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    price REAL,
    ref TEXT NOT NULL DEFAULT '',
    ts INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE
);
CREATE INDEX monitor_marks_ticket_kind ON monitor_marks (ticket, kind);
CREATE INDEX monitor_marks_ts ON monitor_marks (ts);
DROP VIEW m5_candles;
CREATE VIEW m5_candles AS
    SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts,
        complete, revision, first_tick_ts, last_tick_ts
    FROM candles WHERE timeframe = 'M5';
CREATE TRIGGER exit_rules_same_event BEFORE INSERT ON exit_rules
BEGIN
    SELECT CASE
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.trailing_distance IS NOT NEW.trailing_distance THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another trailing_distance; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.trailing_atr IS NOT NEW.trailing_atr THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another trailing_atr; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.atr_timeframe IS NOT NEW.atr_timeframe THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another atr_timeframe; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.atr_period IS NOT NEW.atr_period THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another atr_period; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.trailing_activation IS NOT NEW.trailing_activation THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another trailing_activation; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.trailing_step IS NOT NEW.trailing_step THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another trailing_step; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.breakeven_trigger IS NOT NEW.breakeven_trigger THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another breakeven_trigger; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.breakeven_offset IS NOT NEW.breakeven_offset THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another breakeven_offset; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'exit_rules: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM exit_rules AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER oco_groups_same_event BEFORE INSERT ON oco_groups
BEGIN
    SELECT CASE
        WHEN stored.group_id IS NOT NEW.group_id THEN RAISE(ABORT, 'oco_groups: an event with this event_id was stored before with another group_id; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.tickets IS NOT NEW.tickets THEN RAISE(ABORT, 'oco_groups: an event with this event_id was stored before with another tickets; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'oco_groups: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM oco_groups AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
CREATE TRIGGER monitor_marks_same_event BEFORE INSERT ON monitor_marks
BEGIN
    SELECT CASE
        WHEN stored.ticket IS NOT NEW.ticket THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another ticket; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.symbol IS NOT NEW.symbol THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another symbol; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.kind IS NOT NEW.kind THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another kind; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.level IS NOT NEW.level THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another level; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.severity IS NOT NEW.severity THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another severity; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.message IS NOT NEW.message THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another message; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.price IS NOT NEW.price THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another price; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ref IS NOT NEW.ref THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another ref; a replay must repeat the event unchanged, a new fact needs a new event_id')
        WHEN stored.ts IS NOT NEW.ts THEN RAISE(ABORT, 'monitor_marks: an event with this event_id was stored before with another ts; a replay must repeat the event unchanged, a new fact needs a new event_id')
        ELSE RAISE(IGNORE) END
    FROM monitor_marks AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;
END;
