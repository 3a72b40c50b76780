"""The position monitor's tables (migration 5): the exit rules and OCO groups a bot
registers, and what the monitor fired once (its marks), each keyed by ``event_id``
with the replay guard every event table has (a replay is a no-op; the same
``event_id`` with other content is refused)."""

from __future__ import annotations

from typing import Final

from schemas import Event, ExitRule, MonitorMark, OcoGroup

from ._mapping import Index, Table, column, struct_columns, table
from ._sqlite_dialect import literal

__all__ = ["MONITOR_INTEGRITY", "MONITOR_TABLES", "MONITOR_VERSION"]

#: The schema version that makes these tables.
MONITOR_VERSION: Final = 5


def _events(name: str, event: type[Event], *indexes: tuple[str, ...]) -> Table:
    return table(
        name,
        columns=(
            column("id", int, generated=True),
            *struct_columns(event, unique=("event_id",)),
        ),
        primary_key=("id",),
        indexes=tuple(
            Index(suffix="_".join(cols), columns=cols, since=MONITOR_VERSION) for cols in indexes
        ),
        event=event,
        since=MONITOR_VERSION,
    )


EXIT_RULES: Final = _events("exit_rules", ExitRule, ("ticket", "event_id"))
OCO_GROUPS: Final = _events("oco_groups", OcoGroup, ("group_id",))
MONITOR_MARKS: Final = _events("monitor_marks", MonitorMark, ("ticket", "kind"), ("ts",))

#: The monitor's tables, in the order a batch stores their events.
MONITOR_TABLES: Final = (EXIT_RULES, OCO_GROUPS, MONITOR_MARKS)


def _same_event(t: Table) -> str:
    """The BEFORE INSERT trigger that makes a replay of an event_id a no-op and refuses
    the id with other content, naming the column that differs."""
    branches = "\n".join(
        f"        WHEN stored.{c} IS NOT NEW.{c} THEN RAISE(ABORT, "
        + literal(
            f"{t.name}: an event with this event_id was stored before with another {c}; "
            "a replay must repeat the event unchanged, a new fact needs a new event_id"
        )
        + ")"
        for c in t.event_columns(MONITOR_VERSION)
    )
    return (
        f"CREATE TRIGGER {t.name}_same_event BEFORE INSERT ON {t.name}\nBEGIN\n"
        f"    SELECT CASE\n{branches}\n        ELSE RAISE(IGNORE) END\n"
        f"    FROM {t.name} AS stored WHERE stored.event_id = NEW.event_id LIMIT 1;\nEND;\n"
    )


#: The hand-written SQL of migration 5 for the monitor's tables.
MONITOR_INTEGRITY: Final = "".join(_same_event(t) for t in MONITOR_TABLES)
