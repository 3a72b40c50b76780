"""The numbered schema migrations of the three databases (``PRAGMA user_version``).

Migrations are only ever appended. Columns are typed, named as the events' fields.

Migration 3 makes the schema keep the meaning of what was stored, whatever arrives:

* A replay is a no-op: an event whose event_id is stored already, with the same
  content (compared column by column with ``IS``: NULLs are equal, floats exactly as
  stored), is skipped; with other content it is refused (the writer dead-letters it,
  with the table and the column that differs), and changes nothing.
* A key belongs to one event: a recommendation_id stored under another event_id, or
  an execution on a ticket another execution (another event_id) opened, is refused
  whatever its content, never skipped and never merged: an event acknowledged is an
  event stored under its own event_id. (A repeat of a committed call is the
  caller's to replay under the stored event_id.)
* A position closes once, and so does a recommendation: a close (another event_id)
  of a ticket or recommendation closed already is refused; the first close stored
  holds, whatever the event_ids.
* State follows event_id, never ts: a position takes its updates in event_id order (the
  ids of one process increase even when its wall clock steps back); a close is final:
  no later update reopens the position. A recommendation's status is its furthest
  stage (:data:`RECOMMENDATION_STAGES`).
* Positions and recommendations change only from rows really inserted (AFTER INSERT
  triggers), so a skipped replay cannot touch them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANALYSIS_MIGRATIONS",
    "EVENT_COLUMNS",
    "LOGS_MIGRATIONS",
    "MAIN_MIGRATIONS",
    "RECOMMENDATION_STAGES",
]

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

# ------------------------------------------------------- migration 3: integrity
#
# SQLite (before 3.47) takes only a literal as RAISE's message: the refusals below
# name the table, the key and the column that differs; the event itself is in the
# dead letter (and in the caller's error).

#: How far along its life each status puts a recommendation: pending, then rejected or
#: expired (it ended unexecuted), executed, closed. A recommendation's status is that
#: of its update of the furthest stage (the order updates arrive in, their event_id
#: or their ts never take it back); of updates of one stage, the latest by event_id.
#: Closed is final: a recommendation has one close (a second is refused). An
#: execution or close logged after a rejection or expiry still applies: the trade
#: exists.
RECOMMENDATION_STAGES: Final = {
    "pending": 0,
    "rejected": 1,
    "expired": 1,
    "executed": 2,
    "closed": 3,
}


def _stage(status: str) -> str:
    """The SQL expression of the stage of ``status`` (an SQL expression)."""
    whens = " ".join(f"WHEN '{name}' THEN {n}" for name, n in RECOMMENDATION_STAGES.items())
    return f"(CASE {status} {whens} ELSE 0 END)"


# The stored columns of each event, as they were when migration 3 was written (a
# migration never changes: a field added later needs a migration of its own).
_EXECUTION_CONTENT: Final = (
    "ticket", "symbol", "direction", "entry_price", "volume", "stop_loss", "take_profit",
    "recommendation_id", "comment",
)  # fmt: skip
_RECOMMENDATION_CONTENT: Final = (
    "symbol", "direction", "entry_price", "stop_loss", "take_profit", "confidence",
    "reasoning", "timeframe", "source",
)  # fmt: skip
#: Per table keyed by ``event_id``: the columns an event fills, but for event_id.
EVENT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "trade_executions": (*_EXECUTION_CONTENT, "ts"),
    "position_updates": (
        "ticket", "symbol", "status", "current_price", "volume", "stop_loss", "take_profit",
        "unrealized_pnl", "close_price", "realized_pnl", "ts",
    ),
    "trade_recommendations": ("recommendation_id", *_RECOMMENDATION_CONTENT, "ts"),
    "recommendation_updates": (
        "recommendation_id", "status", "ticket", "outcome", "realized_pnl", "ts",
    ),
    "trade_analysis": ("symbol", "timeframe", "regime", "confluence_score", "indicators", "ts"),
    "analysis_results": ("kind", "payload", "symbol", "ts"),
    "trade_monitoring": ("ticket", "symbol", "monitoring_type", "status", "details", "ts"),
    "trade_alerts": ("alert_type", "severity", "message", "symbol", "ticket", "ts"),
    "api_logs": ("method", "path", "status_code", "duration_ms", "client", "ts"),
    "system_health": ("component", "status", "details", "ts"),
}  # fmt: skip


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _repeat_guard(table: str, key: str, columns: tuple[str, ...], refusal: str) -> str:
    """A trigger statement for an INSERT into ``table`` whose ``key`` is stored already:
    it skips the INSERT (``RAISE(IGNORE)``) when the stored row holds the same
    ``columns`` (``IS``: NULLs are equal), and refuses it (``RAISE(ABORT)``, the
    transaction's statement fails) naming the first column that differs otherwise.

    ``refusal`` is the message, with ``{column}`` where the column's name goes.
    """
    branches = "\n".join(
        f"        WHEN stored.{c} IS NOT NEW.{c} "
        f"THEN RAISE(ABORT, {_literal(refusal.format(column=c))})"
        for c in columns
        if c != key
    )
    return (
        f"    SELECT CASE\n{branches}\n        ELSE RAISE(IGNORE) END\n"
        f"    FROM {table} AS stored WHERE stored.{key} = NEW.{key} LIMIT 1;\n"
    )


def _event_id_guard(table: str) -> str:
    """The statement that makes a replayed event_id a no-op, or refuses it if it
    carries other content than the event stored under that id."""
    return _repeat_guard(
        table,
        "event_id",
        EVENT_COLUMNS[table],
        f"{table}: an event with this event_id was stored before with another {{column}}; "
        "a replay must repeat the event unchanged, a new fact needs a new event_id",
    )


def _event_id_triggers(*tables: str) -> str:
    """One BEFORE INSERT trigger per table that guards nothing but the event_id."""
    return "".join(
        f"CREATE TRIGGER {table}_same_event BEFORE INSERT ON {table}\nBEGIN\n"
        f"{_event_id_guard(table)}END;\n"
        for table in tables
    )


def _refuse_if(table: str, where: str, refusal: str) -> str:
    """A trigger statement that refuses the INSERT (``RAISE(ABORT)``, the statement
    fails) with ``refusal`` if a row of ``table`` matches ``where``.

    It follows :func:`_event_id_guard`, which ends the trigger for a replay: so the
    rows it finds belong to other events.
    """
    return (
        f"    SELECT RAISE(ABORT, {_literal(refusal)})\n"
        f"    FROM {table} AS stored WHERE {where} LIMIT 1;\n"
    )


def _closes_once(table: str, key: str, refusal: str) -> str:
    """The BEFORE INSERT trigger of ``table`` (a history of updates keyed by ``key``):
    a replay is a no-op or refused; a close of a ``key`` closed by another event is
    refused, so the first close stored holds."""
    return (
        f"CREATE TRIGGER {table}_same_event BEFORE INSERT ON {table}\nBEGIN\n"
        + _event_id_guard(table)
        + _refuse_if(
            table,
            f"NEW.status = 'closed' AND stored.{key} = NEW.{key} AND stored.status = 'closed'",
            refusal,
        )
        + "END;\n"
    )


# The columns an update may leave out (NULL: unchanged). An open position holds, for
# each, the value of the update with the largest event_id that has one (else the
# execution's): an update delivered late still fills in what no later one changed.
_POSITION_KEPT: Final = ("volume", "stop_loss", "take_profit", "unrealized_pnl")
_LATE_UPDATE_FILL: Final = (
    "    UPDATE trade_positions SET\n"
    + ",\n".join(
        f"""        {c} = CASE WHEN NEW.{c} IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.{c} IS NOT NULL)
            THEN NEW.{c} ELSE {c} END"""
        for c in _POSITION_KEPT
    )
    + """
    WHERE ticket = NEW.ticket AND status <> 'closed' AND event_id > NEW.event_id
      AND EXISTS (SELECT 1 FROM position_updates AS u
                  WHERE u.event_id = trade_positions.event_id);
"""
)

_MAIN_INTEGRITY: Final = (
    # An execution: a replay of its event_id is a no-op; any other execution on the
    # same ticket (another event_id, whatever its content) is refused: skipping it
    # would acknowledge an event_id stored nowhere.
    "CREATE TRIGGER trade_executions_same_event BEFORE INSERT ON trade_executions\nBEGIN\n"
    + _event_id_guard("trade_executions")
    + _refuse_if(
        "trade_executions",
        "stored.ticket = NEW.ticket",
        "trade_executions: this ticket was opened before by another execution (another "
        "event_id); a ticket opens one trade: a retry must repeat the execution under its "
        "event_id, a new trade needs a ticket of its own",
    )
    + """    SELECT RAISE(ABORT, 'trade_positions: this ticket holds the position of another """
    """execution; a ticket opens one trade, a new trade needs a ticket of its own')
    FROM trade_positions WHERE ticket = NEW.ticket AND direction IS NOT NULL;
END;
"""
    + _closes_once(
        "position_updates",
        "ticket",
        "position_updates: this ticket was closed before by another close (another "
        "event_id); a position closes once: a retry must repeat the close under its "
        "event_id",
    )
    # The state of a position follows its updates in event_id order (not ts: a wall
    # clock may step back); a close is final. Only rows really inserted get here,
    # so a replay never touches the state.
    + """CREATE TRIGGER position_updates_apply AFTER INSERT ON position_updates
BEGIN
    INSERT INTO trade_positions (ticket, symbol, status, current_price, volume, stop_loss,
        take_profit, unrealized_pnl, close_price, realized_pnl, closed_ts, ts, event_id)
    VALUES (NEW.ticket, NEW.symbol, NEW.status, NEW.current_price, NEW.volume,
        NEW.stop_loss, NEW.take_profit,
        CASE WHEN NEW.status = 'closed' THEN NULL ELSE NEW.unrealized_pnl END,
        NEW.close_price, NEW.realized_pnl,
        CASE WHEN NEW.status = 'closed' THEN NEW.ts END, NEW.ts, NEW.event_id)
    ON CONFLICT (ticket) DO UPDATE SET
        status = excluded.status,
        current_price = excluded.current_price,
        volume = coalesce(excluded.volume, trade_positions.volume),
        stop_loss = coalesce(excluded.stop_loss, trade_positions.stop_loss),
        take_profit = coalesce(excluded.take_profit, trade_positions.take_profit),
        unrealized_pnl = CASE WHEN excluded.status = 'closed' THEN NULL
            ELSE coalesce(excluded.unrealized_pnl, trade_positions.unrealized_pnl) END,
        close_price = coalesce(excluded.close_price, trade_positions.close_price),
        realized_pnl = coalesce(excluded.realized_pnl, trade_positions.realized_pnl),
        closed_ts = coalesce(excluded.closed_ts, trade_positions.closed_ts),
        ts = excluded.ts,
        event_id = excluded.event_id
    WHERE CASE
        -- closed is final (a second close never gets here: it is refused)
        WHEN trade_positions.status = 'closed' THEN 0
        WHEN excluded.status = 'closed' THEN 1
        -- else the larger event_id; the execution's own id does not count
        ELSE excluded.event_id > trade_positions.event_id
            OR NOT EXISTS (SELECT 1 FROM position_updates AS u
                           WHERE u.event_id = trade_positions.event_id)
    END;
"""
    + _LATE_UPDATE_FILL
    + """END;
CREATE INDEX position_updates_ticket_event ON position_updates (ticket, event_id);
"""
)

_ANALYSIS_INTEGRITY: Final = (
    # A recommendation: a replay of its event_id is a no-op; its recommendation_id
    # under another event_id (whatever the content) is refused.
    "CREATE TRIGGER trade_recommendations_same_event BEFORE INSERT ON trade_recommendations\n"
    "BEGIN\n"
    + _event_id_guard("trade_recommendations")
    + _refuse_if(
        "trade_recommendations",
        "stored.recommendation_id = NEW.recommendation_id",
        "trade_recommendations: this recommendation_id was stored before by another event "
        "(another event_id); a recommendation is logged once: a retry must repeat it under "
        "its event_id, a change is a recommendation update, a new recommendation needs a "
        "recommendation_id of its own",
    )
    + "END;\n"
    + _closes_once(
        "recommendation_updates",
        "recommendation_id",
        "recommendation_updates: this recommendation was closed before by another update "
        "(another event_id); a recommendation closes once: a retry must repeat the close "
        "under its event_id",
    )
    + _event_id_triggers("trade_analysis", "analysis_results")
    # The status of a recommendation: see RECOMMENDATION_STAGES.
    + f"""CREATE TRIGGER recommendation_updates_apply AFTER INSERT ON recommendation_updates
BEGIN
    UPDATE trade_recommendations SET
        status = NEW.status,
        ticket = coalesce(NEW.ticket, ticket),
        outcome = coalesce(NEW.outcome, outcome),
        realized_pnl = coalesce(NEW.realized_pnl, realized_pnl),
        updated_ts = NEW.ts,
        updated_event_id = NEW.event_id
    WHERE recommendation_id = NEW.recommendation_id AND (
        {_stage("NEW.status")} > {_stage("status")}
        OR ({_stage("NEW.status")} = {_stage("status")} AND status <> 'closed'
            AND NEW.event_id > updated_event_id));
END;
-- A recommendation that arrives after its updates (out-of-order delivery) takes the
-- state they give.
CREATE TRIGGER trade_recommendations_catch_up AFTER INSERT ON trade_recommendations
BEGIN
    UPDATE trade_recommendations SET
        status = u.status,
        ticket = (SELECT ticket FROM recommendation_updates
                  WHERE recommendation_id = NEW.recommendation_id AND ticket IS NOT NULL
                  ORDER BY event_id DESC LIMIT 1),
        outcome = (SELECT outcome FROM recommendation_updates
                   WHERE recommendation_id = NEW.recommendation_id AND outcome IS NOT NULL
                   ORDER BY event_id DESC LIMIT 1),
        realized_pnl = (SELECT realized_pnl FROM recommendation_updates
                        WHERE recommendation_id = NEW.recommendation_id
                          AND realized_pnl IS NOT NULL
                        ORDER BY event_id DESC LIMIT 1),
        updated_ts = u.ts,
        updated_event_id = u.event_id
    FROM (SELECT status, ts, event_id FROM recommendation_updates
          WHERE recommendation_id = NEW.recommendation_id
          ORDER BY {_stage("status")} DESC, event_id DESC
          LIMIT 1) AS u
    WHERE trade_recommendations.recommendation_id = NEW.recommendation_id;
END;
CREATE INDEX recommendation_updates_rec_event
    ON recommendation_updates (recommendation_id, event_id);
"""
)

_LOGS_INTEGRITY: Final = _event_id_triggers(
    "trade_monitoring", "trade_alerts", "api_logs", "system_health"
)


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
    # 3: replays are no-ops; reused tickets and second closes are refused; event_id order
    _MAIN_INTEGRITY,
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
    _ANALYSIS_INTEGRITY,
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
    _LOGS_INTEGRITY,
)
