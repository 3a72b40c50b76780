
    CREATE TABLE unified_ticks (
        symbol TEXT NOT NULL,
        ts INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        bid REAL NOT NULL,
        ask REAL NOT NULL,
        last REAL,
        volume REAL NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (symbol, ts, seq)
    ) WITHOUT ROWID;
    CREATE TABLE candles (
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        ts_open INTEGER NOT NULL,
        open REAL NOT NULL,
        high REAL NOT NULL,
        low REAL NOT NULL,
        close REAL NOT NULL,
        volume REAL NOT NULL DEFAULT 0,
        tick_count INTEGER NOT NULL DEFAULT 0,
        ts INTEGER NOT NULL,
        PRIMARY KEY (symbol, timeframe, ts_open)
    ) WITHOUT ROWID;
    CREATE VIEW m5_candles AS
        SELECT symbol, ts_open, open, high, low, close, volume, tick_count, ts
        FROM candles WHERE timeframe = 'M5';
    CREATE TABLE trade_executions (
        id INTEGER PRIMARY KEY,
        ticket INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('BUY', 'SELL')),
        entry_price REAL NOT NULL CHECK (entry_price > 0),
        volume REAL NOT NULL CHECK (volume > 0),
        stop_loss REAL,
        take_profit REAL,
        recommendation_id TEXT,
        comment TEXT NOT NULL DEFAULT '',
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE trade_positions (
        ticket INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        direction TEXT CHECK (direction IN ('BUY', 'SELL')),
        status TEXT NOT NULL CHECK (status IN ('open', 'modified', 'closed')),
        entry_price REAL,
        volume REAL,
        stop_loss REAL,
        take_profit REAL,
        current_price REAL,
        unrealized_pnl REAL,
        close_price REAL,
        realized_pnl REAL,
        recommendation_id TEXT,
        opened_ts INTEGER,
        closed_ts INTEGER,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL
    );
    CREATE TABLE position_updates (
        id INTEGER PRIMARY KEY,
        ticket INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        status TEXT NOT NULL,
        current_price REAL NOT NULL,
        volume REAL,
        stop_loss REAL,
        take_profit REAL,
        unrealized_pnl REAL,
        close_price REAL,
        realized_pnl REAL,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    seq INTEGER,
    event_type TEXT,
    data BLOB NOT NULL,
    error TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE INDEX dead_letters_ts ON dead_letters (ts);
CREATE TABLE writer_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
