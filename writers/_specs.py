"""Database specs: a route (file, topics, event types) with the SQLite tables,
migrations and handlers that store it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Final

from schemas import Event, Tick

from ._ddl import ANALYSIS_MIGRATIONS, LOGS_MIGRATIONS, MAIN_MIGRATIONS, OUTBOX_MIGRATIONS
from ._mapping import Table
from ._routing import ANALYSIS_ROUTE, LOGS_ROUTE, MAIN_ROUTE, Route
from ._sqlite_dialect import Handler, Statement, insert_handler
from ._sqlite_rules import NEWER_CANDLE_WINS, open_positions
from ._tables import (
    ANALYSIS_TABLES,
    CANDLES,
    EXECUTIONS,
    LOGS_TABLES,
    MAIN_TABLES,
    OUTBOX,
)

__all__ = [
    "ANALYSIS",
    "LOGS",
    "MAIN",
    "OUTBOX_SPEC",
    "DatabaseSpec",
    "Handler",
    "Statement",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseSpec:
    """What one database holds and how events are stored in it.

    :param name: the database's short name (``main``, ``analysis``, ``logs``).
    :param filename: the default file name in the data directory.
    :param topics: the topic patterns its writer subscribes to.
    :param tables: the tables its writer writes (``dead_letters`` too): the rows it
        counts per table in ``WriterActor.statistics().rows``.
    :param migrations: numbered schema scripts; ``PRAGMA user_version`` is how many ran.
    :param handlers: for each event type, how its events become rows.
    :param tick_table: the table ticks go to, on the fast path (or None).
    """

    name: str
    filename: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    migrations: tuple[str, ...]
    handlers: Mapping[type[Event], Handler]
    tick_table: str | None = None

    @property
    def event_types(self) -> tuple[type[Event], ...]:
        """The event types whose home is this database."""
        types = tuple(self.handlers)
        return (Tick, *types) if self.tick_table else types

    @property
    def schema_version(self) -> int:
        return len(self.migrations)

    def with_filename(self, filename: str) -> DatabaseSpec:
        """A copy of this spec stored under another file name."""
        return dataclasses.replace(self, filename=filename)


#: What the mappings do not say about storing an event: a guard on an upsert, or the
#: statements that follow its insert.
_UPSERT_GUARDS: Final = {CANDLES.name: NEWER_CANDLE_WINS}
_FOLLOW_UPS: Final[dict[str, Handler]] = {EXECUTIONS.name: open_positions}


def _spec(route: Route, tables: Sequence[Table], migrations: tuple[str, ...]) -> DatabaseSpec:
    """The spec that stores ``route``'s events in ``tables``: each event type in the
    table mapped to it, ticks on the writer's fast path."""
    home = {t.event: t for t in tables if t.event is not None}
    missing = [e.__name__ for e in route.events if e not in home]
    if missing:
        raise ValueError(f"the {route.name!r} database has no table for {missing}")
    handlers = {
        event: insert_handler(
            home[event],
            upsert_guard=_UPSERT_GUARDS.get(home[event].name, ""),
            then=_FOLLOW_UPS.get(home[event].name),
        )
        for event in route.events
        if event is not Tick
    }
    return DatabaseSpec(
        name=route.name,
        filename=route.filename,
        topics=route.topics,
        tables=(*(t.name for t in tables), "dead_letters"),
        migrations=migrations,
        handlers=handlers,
        tick_table=home[Tick].name if Tick in route.events else None,
    )


MAIN: Final = _spec(MAIN_ROUTE, MAIN_TABLES, MAIN_MIGRATIONS)
ANALYSIS: Final = _spec(ANALYSIS_ROUTE, ANALYSIS_TABLES, ANALYSIS_MIGRATIONS)
LOGS: Final = _spec(LOGS_ROUTE, LOGS_TABLES, LOGS_MIGRATIONS)
#: A file that holds only an outbox: what a process hosting no role writes.
OUTBOX_SPEC: Final = DatabaseSpec(
    name="outbox",
    filename="outbox.db",
    topics=(),
    tables=("dead_letters", OUTBOX.name),
    migrations=OUTBOX_MIGRATIONS,
    handlers={},
)
