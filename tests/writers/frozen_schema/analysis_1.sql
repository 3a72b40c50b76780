
    CREATE TABLE trade_recommendations (
        recommendation_id TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('BUY', 'SELL')),
        entry_price REAL NOT NULL,
        stop_loss REAL NOT NULL,
        take_profit REAL NOT NULL,
        confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 100),
        reasoning TEXT NOT NULL DEFAULT '',
        timeframe TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'executed', 'rejected', 'expired', 'closed')),
        ticket INTEGER,
        outcome TEXT CHECK (outcome IN ('win', 'loss', 'breakeven')),
        realized_pnl REAL,
        ts INTEGER NOT NULL,
        updated_ts INTEGER NOT NULL,
        updated_event_id TEXT NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE recommendation_updates (
        id INTEGER PRIMARY KEY,
        recommendation_id TEXT NOT NULL,
        status TEXT NOT NULL,
        ticket INTEGER,
        outcome TEXT,
        realized_pnl REAL,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE trade_analysis (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        regime TEXT NOT NULL,
        confluence_score REAL NOT NULL,
        indicators TEXT NOT NULL DEFAULT '{}',
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE analysis_results (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        symbol TEXT,
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
