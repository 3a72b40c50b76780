
    CREATE TABLE trade_monitoring (
        id INTEGER PRIMARY KEY,
        ticket INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        monitoring_type TEXT NOT NULL,
        status TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '',
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE trade_alerts (
        id INTEGER PRIMARY KEY,
        alert_type TEXT NOT NULL CHECK (alert_type IN ('risk', 'profit', 'system')),
        severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        message TEXT NOT NULL,
        symbol TEXT,
        ticket INTEGER,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE api_logs (
        id INTEGER PRIMARY KEY,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE
    );
    CREATE TABLE system_health (
        id INTEGER PRIMARY KEY,
        component TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'degraded', 'down')),
        details TEXT NOT NULL DEFAULT '{}',
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
