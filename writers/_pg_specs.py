"""What the PostgreSQL store runs for each database: its migrations and the handlers
of its events, made by the PostgreSQL dialect from the same mappings as SQLite's
(:mod:`writers._specs`, :mod:`writers._ddl`): the same tables, the same versions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Final

from schemas import Event, Tick

from ._ddl import SCHEMA_VERSION
from ._mapping import Table
from ._pg_dialect import insert_handler, migrations
from ._pg_integrity import ANALYSIS_INTEGRITY, LOGS_INTEGRITY, MAIN_INTEGRITY, MONITOR_INTEGRITY
from ._pg_rules import (
    CANDLES_V5,
    M5_CANDLES_VIEW,
    NEWER_CANDLE_WINS,
    OUTBOX_IDENTITY,
    open_positions,
)
from ._specs import ANALYSIS, LOGS, MAIN, OUTBOX_SPEC, DatabaseSpec
from ._sqlite_dialect import Handler
from ._tables import (
    ANALYSIS_TABLES,
    CANDLES,
    EXECUTIONS,
    LOGS_TABLES,
    MAIN_TABLES,
    WRITER_TABLES,
)

__all__ = ["PgSpec", "pg_spec"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PgSpec:
    """A database's PostgreSQL side: ``migrations`` (numbered like SQLite's),
    ``handlers`` per event type (in the order a batch stores them), ``tables``."""

    migrations: tuple[str, ...]
    handlers: Mapping[type[Event], Handler]
    tables: tuple[Table, ...]


_UPSERT_GUARDS: Final = {CANDLES.name: NEWER_CANDLE_WINS}
_FOLLOW_UPS: Final[dict[str, Handler]] = {EXECUTIONS.name: open_positions}


def _make(spec: DatabaseSpec, tables: Sequence[Table], written: Mapping[int, str]) -> PgSpec:
    home = {t.event: t for t in tables if t.event is not None}
    handlers = {
        event: insert_handler(
            home[event],
            upsert_guard=_UPSERT_GUARDS.get(home[event].name, ""),
            then=_FOLLOW_UPS.get(home[event].name),
        )
        for event in spec.handlers  # the SQLite spec's order: the same order of statements
        if event is not Tick
    }
    all_tables = (*tables, *WRITER_TABLES)
    return PgSpec(
        migrations=migrations(all_tables, written, SCHEMA_VERSION),
        handlers=handlers,
        tables=all_tables,
    )


_PG_SPECS: Final = {
    MAIN.name: _make(
        MAIN,
        MAIN_TABLES,
        {
            1: M5_CANDLES_VIEW,
            3: MAIN_INTEGRITY,
            4: OUTBOX_IDENTITY,
            5: CANDLES_V5 + MONITOR_INTEGRITY,
        },
    ),
    ANALYSIS.name: _make(ANALYSIS, ANALYSIS_TABLES, {3: ANALYSIS_INTEGRITY, 4: OUTBOX_IDENTITY}),
    LOGS.name: _make(LOGS, LOGS_TABLES, {3: LOGS_INTEGRITY, 4: OUTBOX_IDENTITY}),
    OUTBOX_SPEC.name: _make(OUTBOX_SPEC, (), {4: OUTBOX_IDENTITY}),
}


def pg_spec(spec: DatabaseSpec) -> PgSpec:
    """The PostgreSQL side of ``spec`` (one of tradebus's databases, under any file name).

    :raises ValueError: for a database tradebus has no PostgreSQL schema for.
    """
    try:
        made = _PG_SPECS[spec.name]
    except KeyError:
        raise ValueError(
            f"no PostgreSQL schema for the database {spec.name!r}; "
            f"there is one for {', '.join(sorted(_PG_SPECS))}"
        ) from None
    if set(made.handlers) != set(spec.handlers) or len(made.migrations) != spec.schema_version:
        raise ValueError(f"the database {spec.name!r} is not tradebus's own: no PostgreSQL schema")
    return made
