"""The numbered schema migrations of the three databases (``PRAGMA user_version``).

Migrations are only ever appended. Columns are typed, named as the events' fields.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ANALYSIS_MIGRATIONS", "LOGS_MIGRATIONS", "MAIN_MIGRATIONS"]

_DEAD_LETTERS: Final = """
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
"""

# unified_ticks is clustered on (symbol, ts, seq): one B-tree insert per tick, and the
# "latest ticks of a symbol" query reads one contiguous range. seq is a per-database
# counter the writer assigns, so ticks that repeat a (symbol, ts) are all kept.
MAIN_MIGRATIONS: Final = (
    # 1: the tables
    """
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
    """
    + _DEAD_LETTERS,
    # 2: indexes for the queries users run
    """
    CREATE INDEX trade_executions_ticket ON trade_executions (ticket);
    CREATE INDEX trade_executions_symbol_ts ON trade_executions (symbol, ts);
    CREATE INDEX trade_positions_status ON trade_positions (status, symbol);
    CREATE INDEX position_updates_ticket_ts ON position_updates (ticket, ts);
    """,
)

ANALYSIS_MIGRATIONS: Final = (
    """
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
    """
    + _DEAD_LETTERS,
    """
    CREATE INDEX trade_recommendations_status ON trade_recommendations (status, ts);
    CREATE INDEX trade_recommendations_symbol_ts ON trade_recommendations (symbol, ts);
    CREATE INDEX recommendation_updates_rec ON recommendation_updates (recommendation_id, ts);
    CREATE INDEX trade_analysis_symbol_ts ON trade_analysis (symbol, ts);
    CREATE INDEX analysis_results_kind_ts ON analysis_results (kind, ts);
    """,
)

LOGS_MIGRATIONS: Final = (
    """
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
    """
    + _DEAD_LETTERS,
    """
    CREATE INDEX trade_monitoring_ticket_ts ON trade_monitoring (ticket, ts);
    CREATE INDEX trade_monitoring_ts ON trade_monitoring (ts);
    CREATE INDEX trade_alerts_ts ON trade_alerts (ts);
    CREATE INDEX api_logs_ts ON api_logs (ts);
    CREATE INDEX system_health_component_ts ON system_health (component, ts);
    """,
)
