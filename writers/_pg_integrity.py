"""The rules of migration 3 (and 5, for the monitor's tables) in PostgreSQL: the
schema keeps the meaning of what was stored, whatever arrives. The same rules as
the SQLite triggers (:mod:`writers._sqlite_integrity`, described in
:mod:`writers._ddl`), as PL/pgSQL trigger functions:

* a BEFORE INSERT trigger returning NULL skips a replay (SQLite's ``RAISE(IGNORE)``);
* a refusal raises ``integrity_constraint_violation`` (SQLite's ``RAISE(ABORT)``,
  an ``IntegrityError``), with the same message;
* AFTER INSERT triggers change positions and recommendations only from rows really
  inserted.

The columns each guard compares are those the mappings give each table as of the
version the guard comes with (:data:`~writers._sqlite_integrity.EVENT_COLUMNS`).
"""

from __future__ import annotations

from typing import Final

from ._monitor_tables import MONITOR_TABLES, MONITOR_VERSION
from ._sqlite_dialect import literal
from ._sqlite_integrity import EVENT_COLUMNS
from ._tables import RECOMMENDATION_STAGES

__all__ = ["ANALYSIS_INTEGRITY", "LOGS_INTEGRITY", "MAIN_INTEGRITY", "MONITOR_INTEGRITY"]


def _raise(message: str) -> str:
    return (
        "RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', "
        f"MESSAGE = {literal(message)};"
    )


def _stage(status: str) -> str:
    """The SQL expression of the stage of ``status``: see RECOMMENDATION_STAGES."""
    whens = " ".join(f"WHEN {literal(name)} THEN {n}" for name, n in RECOMMENDATION_STAGES.items())
    return f"(CASE {status} {whens} ELSE 0 END)"


def _replay_guard(table: str, columns: tuple[str, ...]) -> str:
    """The start of a BEFORE INSERT function: a replay of a stored event_id with the
    same columns is skipped; with another value in one of them it is refused, naming
    the first that differs."""
    checks = "".join(
        f"        IF prior.{c} IS DISTINCT FROM NEW.{c} THEN\n            "
        + _raise(
            f"{table}: an event with this event_id was stored before with another {c}; "
            "a replay must repeat the event unchanged, a new fact needs a new event_id"
        )
        + "\n        END IF;\n"
        for c in columns
        if c != "event_id"
    )
    return (
        f"    SELECT * INTO prior FROM {table} WHERE event_id = NEW.event_id LIMIT 1;\n"
        f"    IF FOUND THEN\n{checks}        RETURN NULL;\n    END IF;\n"
    )


def _refuse_if(table: str, where: str, refusal: str) -> str:
    """Refuse the insert if a row of ``table`` (``stored``) matches ``where``."""
    return (
        f"    IF EXISTS (SELECT 1 FROM {table} AS stored WHERE {where}) THEN\n"
        f"        {_raise(refusal)}\n    END IF;\n"
    )


def _before_insert(table: str, columns: tuple[str, ...], then: str = "") -> str:
    """The ``<table>_same_event`` trigger: the replay guard, then ``then``'s checks."""
    return (
        f"CREATE FUNCTION {table}_same_event() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"DECLARE prior {table}%ROWTYPE;\nBEGIN\n"
        + _replay_guard(table, columns)
        + then
        + "    RETURN NEW;\nEND $$;\n"
        f"CREATE TRIGGER {table}_same_event BEFORE INSERT ON {table}\n"
        f"    FOR EACH ROW EXECUTE FUNCTION {table}_same_event();\n"
    )


def _after_insert(table: str, name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {table}_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}    RETURN NULL;\nEND $$;\n"
        f"CREATE TRIGGER {table}_{name} AFTER INSERT ON {table}\n"
        f"    FOR EACH ROW EXECUTE FUNCTION {table}_{name}();\n"
    )


def _event_id_triggers(*tables: str) -> str:
    return "".join(_before_insert(t, EVENT_COLUMNS[t]) for t in tables)


def _closes_once(table: str, key: str, refusal: str) -> str:
    return _before_insert(
        table,
        EVENT_COLUMNS[table],
        _refuse_if(
            table,
            f"NEW.status = 'closed' AND stored.{key} = NEW.{key} AND stored.status = 'closed'",
            refusal,
        ),
    )


_POSITION_KEPT: Final = ("volume", "stop_loss", "take_profit", "unrealized_pnl")
_LATE_UPDATE_FILL: Final = (
    "    UPDATE trade_positions SET\n"
    + ",\n".join(
        f"""        {c} = CASE WHEN NEW.{c} IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM position_updates AS u WHERE u.ticket = NEW.ticket
                AND u.event_id > NEW.event_id AND u.{c} IS NOT NULL)
            THEN NEW.{c} ELSE trade_positions.{c} END"""
        for c in _POSITION_KEPT
    )
    + """
    WHERE ticket = NEW.ticket AND status <> 'closed' AND event_id > NEW.event_id
      AND EXISTS (SELECT 1 FROM position_updates AS u
                  WHERE u.event_id = trade_positions.event_id);
"""
)

_APPLY_POSITION_UPDATE: Final = """
    INSERT INTO trade_positions (ticket, symbol, status, current_price, volume,
        stop_loss, take_profit, unrealized_pnl, close_price, realized_pnl, closed_ts, ts,
        event_id)
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
        WHEN trade_positions.status = 'closed' THEN false
        WHEN excluded.status = 'closed' THEN true
        ELSE excluded.event_id > trade_positions.event_id
            OR NOT EXISTS (SELECT 1 FROM position_updates AS u
                           WHERE u.event_id = trade_positions.event_id)
    END;
"""

MAIN_INTEGRITY: Final = (
    _before_insert(
        "trade_executions",
        EVENT_COLUMNS["trade_executions"],
        _refuse_if(
            "trade_executions",
            "stored.ticket = NEW.ticket",
            "trade_executions: this ticket was opened before by another execution (another "
            "event_id); a ticket opens one trade: a retry must repeat the execution under its "
            "event_id, a new trade needs a ticket of its own",
        )
        + _refuse_if(
            "trade_positions",
            "stored.ticket = NEW.ticket AND stored.direction IS NOT NULL",
            "trade_positions: this ticket holds the position of another execution; a ticket "
            "opens one trade, a new trade needs a ticket of its own",
        ),
    )
    + _closes_once(
        "position_updates",
        "ticket",
        "position_updates: this ticket was closed before by another close (another "
        "event_id); a position closes once: a retry must repeat the close under its "
        "event_id",
    )
    + _after_insert("position_updates", "apply", _APPLY_POSITION_UPDATE + _LATE_UPDATE_FILL)
)

_APPLY_RECOMMENDATION_UPDATE: Final = f"""    UPDATE trade_recommendations SET
        status = NEW.status,
        ticket = coalesce(NEW.ticket, trade_recommendations.ticket),
        outcome = coalesce(NEW.outcome, trade_recommendations.outcome),
        realized_pnl = coalesce(NEW.realized_pnl, trade_recommendations.realized_pnl),
        updated_ts = NEW.ts,
        updated_event_id = NEW.event_id
    WHERE recommendation_id = NEW.recommendation_id AND (
        {_stage("NEW.status")} > {_stage("trade_recommendations.status")}
        OR ({_stage("NEW.status")} = {_stage("trade_recommendations.status")}
            AND trade_recommendations.status <> 'closed'
            AND NEW.event_id > trade_recommendations.updated_event_id));
"""

_CATCH_UP: Final = f"""    UPDATE trade_recommendations SET
        status = u.status,
        ticket = (SELECT r.ticket FROM recommendation_updates AS r
                  WHERE r.recommendation_id = NEW.recommendation_id AND r.ticket IS NOT NULL
                  ORDER BY r.event_id DESC LIMIT 1),
        outcome = (SELECT r.outcome FROM recommendation_updates AS r
                   WHERE r.recommendation_id = NEW.recommendation_id
                     AND r.outcome IS NOT NULL
                   ORDER BY r.event_id DESC LIMIT 1),
        realized_pnl = (SELECT r.realized_pnl FROM recommendation_updates AS r
                        WHERE r.recommendation_id = NEW.recommendation_id
                          AND r.realized_pnl IS NOT NULL
                        ORDER BY r.event_id DESC LIMIT 1),
        updated_ts = u.ts,
        updated_event_id = u.event_id
    FROM (SELECT r.status, r.ts, r.event_id FROM recommendation_updates AS r
          WHERE r.recommendation_id = NEW.recommendation_id
          ORDER BY {_stage("r.status")} DESC, r.event_id DESC
          LIMIT 1) AS u
    WHERE trade_recommendations.recommendation_id = NEW.recommendation_id;
"""

ANALYSIS_INTEGRITY: Final = (
    _before_insert(
        "trade_recommendations",
        EVENT_COLUMNS["trade_recommendations"],
        _refuse_if(
            "trade_recommendations",
            "stored.recommendation_id = NEW.recommendation_id",
            "trade_recommendations: this recommendation_id was stored before by another event "
            "(another event_id); a recommendation is logged once: a retry must repeat it under "
            "its event_id, a change is a recommendation update, a new recommendation needs a "
            "recommendation_id of its own",
        ),
    )
    + _closes_once(
        "recommendation_updates",
        "recommendation_id",
        "recommendation_updates: this recommendation was closed before by another update "
        "(another event_id); a recommendation closes once: a retry must repeat the close "
        "under its event_id",
    )
    + _event_id_triggers("trade_analysis", "analysis_results")
    + _after_insert("recommendation_updates", "apply", _APPLY_RECOMMENDATION_UPDATE)
    + _after_insert("trade_recommendations", "catch_up", _CATCH_UP)
)

LOGS_INTEGRITY: Final = _event_id_triggers(
    "trade_monitoring", "trade_alerts", "api_logs", "system_health"
)

#: The replay guard of the monitor's tables (migration 5).
MONITOR_INTEGRITY: Final = "".join(
    _before_insert(t.name, t.event_columns(MONITOR_VERSION)) for t in MONITOR_TABLES
)
