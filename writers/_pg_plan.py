"""Turning a batch of messages into a PostgreSQL transaction: ticks as COPY records,
the rest by the PostgreSQL handlers of their types, the relays' cursors last (the
same order of statements as SQLite's plan, :mod:`writers._sqlite_plan`)."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from eventbus import Message
from schemas import Event, Tick
from schemas import decode as _decode

from ._pg_rules import ADVANCE_CURSOR, COMMIT_COUNT, SET_STATE_VALUES
from ._pg_specs import PgSpec
from ._specs import DatabaseSpec, Statement
from ._sqlite_plan import relay_cursors as sqlite_relay_cursors
from ._store import Poison
from ._tables import TABLES

__all__ = ["PgPlanner", "PgTransaction", "relay_cursors"]

_local = attrgetter("local")
_astuple = msgspec.structs.astuple
_add = operator.add
_envelope = attrgetter("envelope")
_headers = attrgetter("headers")
_NO_HEADERS: frozenset[None] = frozenset({None})
_BAD_ENCODING = (ValueError, msgspec.MsgspecError)


class PgTransaction:
    """What one PostgreSQL transaction runs: ``ticks`` (COPY records into
    ``tick_table``, their seqs up to ``next_tick_seq``), then ``statements`` (each
    an ``executemany``); ``rows``: rows written per table (statistics)."""

    __slots__ = ("next_tick_seq", "rows", "statements", "tick_table", "ticks")

    def __init__(
        self,
        statements: list[Statement],
        rows: Mapping[str, int],
        next_tick_seq: int,
        ticks: list[tuple[Any, ...]] | None = None,
        tick_table: str | None = None,
    ) -> None:
        self.statements = statements
        self.rows = rows
        self.next_tick_seq = next_tick_seq
        self.ticks = ticks or []
        self.tick_table = tick_table

    def finish(self, commits: int, *, then_begin: bool = False) -> str:
        """The statements ending this transaction, sent in one round trip: the record
        of its commit number (and of the tick seq after its ticks, if it has some),
        then COMMIT; and BEGIN of the next transaction if ``then_begin`` (which saves
        that one its own round trip). Integers of this writer's own, as literals."""
        values = [(COMMIT_COUNT, int(commits))]
        if self.ticks:
            values.append(("tick_seq", int(self.next_tick_seq)))
        rows = ", ".join(f"('{key}', {value})" for key, value in values)
        end = "COMMIT; BEGIN" if then_begin else "COMMIT"
        return f"{SET_STATE_VALUES.format(rows=rows)}; {end}"


class PgPlanner:
    """Plans transactions for one database stored in PostgreSQL."""

    def __init__(self, spec: DatabaseSpec, pg: PgSpec) -> None:
        self.spec = spec
        self.pg = pg
        self.tick_table = spec.tick_table
        #: The columns of the tick table in order, and how each is read from a tick.
        self.tick_columns: tuple[str, ...] = ()
        if self.tick_table is not None:
            table = TABLES[self.tick_table]
            fields = tuple(f for f in Tick.__struct_fields__)
            names = {c.name for c in table.columns}
            if set(fields) | {"seq"} != names:
                raise ValueError(f"{self.tick_table}: its columns are not a tick's fields and seq")
            # COPY names its columns: a tick's fields in the struct's order, then seq,
            # so that a row is the tick as a tuple plus its seq (made in C).
            self.tick_columns = (*fields, "seq")

    def plan(self, batch: Sequence[Message], tick_seq: int) -> PgTransaction:
        """The transaction storing ``batch``; its ticks take seqs from ``tick_seq`` on.

        :raises Poison: for data from elsewhere that does not decode, or an event
            this database does not store.
        """
        if any(envelope.foreign for envelope in set(map(_envelope, batch))):
            try:
                events: list[Any] = [_decode(m.data) if m.foreign else m.event for m in batch]
            except _BAD_ENCODING as exc:
                raise Poison(f"{type(exc).__name__}: {exc}") from exc
        else:
            events = list(map(_local, batch))
        cursors: list[Statement] = []
        if set(map(_headers, batch)) != _NO_HEADERS:
            cursors = relay_cursors(batch)
        ticks: list[Any] = []
        if self.tick_table is not None:
            ticks = [e for e in events if type(e) is Tick]
            if ticks:
                events = [e for e in events if type(e) is not Tick]
        statements = self._event_statements(events) if events else []
        statements.extend(cursors)
        rows = _count(statements)
        records: list[tuple[Any, ...]] = []
        if ticks and self.tick_table is not None:
            records = self._records(ticks, tick_seq)
            tick_seq += len(ticks)
            rows[self.tick_table] = rows.get(self.tick_table, 0) + len(ticks)
        return PgTransaction(statements, rows, tick_seq, records, self.tick_table)

    def _records(self, ticks: list[Tick], first_seq: int) -> list[tuple[Any, ...]]:
        seqs = zip(range(first_seq, first_seq + len(ticks)), strict=True)
        return list(map(_add, map(_astuple, ticks), seqs))

    def _event_statements(self, events: Sequence[Any]) -> list[Statement]:
        by_type: dict[type[Event], list[Any]] = {}
        for event in events:
            by_type.setdefault(type(event), []).append(event)
        statements: list[Statement] = []
        for event_type, handler in self.pg.handlers.items():
            of_type = by_type.pop(event_type, None)
            if of_type:
                statements.extend(handler(of_type))
        if by_type:
            names = ", ".join(t.__name__ for t in by_type)
            raise Poison(f"the {self.spec.name!r} database does not store {names}")
        return statements


def relay_cursors(messages: Sequence[Message]) -> list[Statement]:
    """The statement advancing the cursor of each source a relay delivered some of
    ``messages`` from (none if a relay delivered none of them): SQLite's, in
    PostgreSQL."""
    return [("", ADVANCE_CURSOR, rows) for _table, _sql, rows in sqlite_relay_cursors(messages)]


def _count(statements: list[Statement]) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table, _sql, params in statements:
        if table:
            rows[table] = rows.get(table, 0) + len(params)
    return rows
