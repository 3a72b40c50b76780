"""The triggers of migration 3, hand-written SQLite: the schema keeps the meaning of
what was stored, whatever arrives (see :mod:`writers._ddl` for the rules).

The columns each trigger compares are those the mappings give each table as of
version 3.
"""

from __future__ import annotations

from typing import Final

from ._sqlite_dialect import literal
from ._tables import ANALYSIS_TABLES, LOGS_TABLES, MAIN_TABLES, RECOMMENDATION_STAGES

__all__ = ["ANALYSIS_INTEGRITY", "EVENT_COLUMNS", "LOGS_INTEGRITY", "MAIN_INTEGRITY"]

#: The schema version these triggers come with.
_VERSION: Final = 3

# SQLite (before 3.47) takes only a literal as RAISE's message: the refusals below
# name the table, the key and the column that differs; the event itself is in the
# dead letter (and in the caller's error).


def _stage(status: str) -> str:
    """The SQL expression of the stage of ``status`` (an SQL expression): see
    :data:`~writers._tables.RECOMMENDATION_STAGES`."""
    whens = " ".join(f"WHEN {literal(name)} THEN {n}" for name, n in RECOMMENDATION_STAGES.items())
    return f"(CASE {status} {whens} ELSE 0 END)"


# The stored columns of each event, as they were when migration 3 was written (a
# migration never changes: a field added later needs a migration of its own).
#: Per table keyed by ``event_id``: the columns an event fills, but for event_id.
EVENT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    t.name: t.event_columns(_VERSION)
    for t in (*MAIN_TABLES, *ANALYSIS_TABLES, *LOGS_TABLES)
    if t.event is not None and any(c.name == "event_id" for c in t.columns)
}


def _repeat_guard(table: str, key: str, columns: tuple[str, ...], refusal: str) -> str:
    """A trigger statement for an INSERT into ``table`` whose ``key`` is stored already:
    it skips the INSERT (``RAISE(IGNORE)``) when the stored row holds the same
    ``columns`` (``IS``: NULLs are equal), and refuses it (``RAISE(ABORT)``, the
    transaction's statement fails) naming the first column that differs otherwise.

    ``refusal`` is the message, with ``{column}`` where the column's name goes.
    """
    branches = "\n".join(
        f"        WHEN stored.{c} IS NOT NEW.{c} "
        f"THEN RAISE(ABORT, {literal(refusal.format(column=c))})"
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
        f"    SELECT RAISE(ABORT, {literal(refusal)})\n"
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

MAIN_INTEGRITY: Final = (
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
    + "END;\n"
)

ANALYSIS_INTEGRITY: Final = (
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
"""
)

LOGS_INTEGRITY: Final = _event_id_triggers(
    "trade_monitoring", "trade_alerts", "api_logs", "system_health"
)
