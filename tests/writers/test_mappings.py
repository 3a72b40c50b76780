"""Storage mappings: declared once, and the routes, tables, DDL and inserts follow."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import pytest

from schemas import EVENT_TYPES, Event
from writers import SPECS, DeadLetter, PositionRecord, RecommendationRecord
from writers._mapping import Table, column, struct_columns, table
from writers._routing import ANALYSIS_ROUTE, LOGS_ROUTE, MAIN_ROUTE
from writers._sqlite_dialect import insert_handler, migrations
from writers._tables import TABLES

from ._helpers import query
from .test_migrations import _schema

ROUTES = (MAIN_ROUTE, ANALYSIS_ROUTE, LOGS_ROUTE)


def test_each_event_type_has_one_database_and_a_table_of_its_fields() -> None:
    specs = {spec.name: spec for spec in SPECS}
    for event_type in EVENT_TYPES:
        [route] = [r for r in ROUTES if event_type in r.events]  # one database each
        spec = specs[route.name]
        assert event_type in spec.event_types
        [home] = [t for t in TABLES.values() if t.event is event_type]
        assert home.name in spec.tables
        assert {c.name for c in home.columns if c.field == c.name} == set(
            event_type.__struct_fields__
        )


def test_a_spec_stores_what_its_route_routes_and_nothing_else() -> None:
    assert [spec.name for spec in SPECS] == [route.name for route in ROUTES]
    for spec, route in zip(SPECS, ROUTES, strict=True):
        assert (spec.filename, spec.topics, spec.event_types) == (
            route.filename,
            route.topics,
            route.events,
        )


@pytest.mark.parametrize(
    ("record", "table_name"),
    [
        (PositionRecord, "trade_positions"),
        (RecommendationRecord, "trade_recommendations"),
        (DeadLetter, "dead_letters"),
    ],
)
def test_the_records_read_back_are_columns_of_their_table(
    record: type[msgspec.Struct], table_name: str
) -> None:
    stored = TABLES[table_name]
    for read in struct_columns(record):
        column = stored.column(read.name)
        assert (column.kind, column.nullable) == (read.kind, read.nullable), read.name


# ------------------------------------------------- a mapping and its migrations


class _Note(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    text: str
    level: Literal["low", "high"]
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    tags: dict[str, Any] = msgspec.field(default_factory=dict)
    ts: int
    event_id: str


class _NoteWithOrigin(_Note, frozen=True, tag=True, kw_only=True, array_like=True):
    origin: str = ""  # a field added later (schema version 2)


def _notes(event: type[_Note]) -> Table:
    since = {"origin": 2} if event is _NoteWithOrigin else {}
    return table(
        "notes",
        columns=(
            column("id", int),
            *struct_columns(event, checked=("level", "score"), unique=("event_id",), since=since),
        ),
        primary_key=("id",),
        event=event,
    )


def _migrate(path: Path, scripts: tuple[str, ...], start: int = 0) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for version, script in enumerate(scripts[start:], start + 1):
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )


def test_a_field_added_to_an_event_later_is_a_column_its_version_adds(tmp_path: Path) -> None:
    older, newer = tmp_path / "older.db", tmp_path / "newer.db"
    _migrate(older, migrations((_notes(_Note),), {}, 1))
    now = migrations((_notes(_NoteWithOrigin),), {}, 2)
    _migrate(older, now, start=1)
    _migrate(newer, now)
    assert _schema(older) == _schema(newer)
    [(sql,)] = query(newer, "SELECT sql FROM sqlite_master WHERE type = 'table'")
    assert "level TEXT NOT NULL CHECK (level IN ('low', 'high'))" in sql
    assert "score REAL CHECK (score BETWEEN 0 AND 1)" in sql
    assert "tags TEXT NOT NULL DEFAULT '{}'" in sql

    note = _NoteWithOrigin(text="it's", level="high", tags={"k": [1]}, ts=5, event_id="n-1")
    [(name, sql, rows)] = insert_handler(_notes(_NoteWithOrigin))([note])
    with closing(sqlite3.connect(older)) as conn:
        conn.executemany(sql, rows)
        conn.commit()
        stored = conn.execute("SELECT * FROM notes").fetchall()
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed: level"):
            conn.execute("INSERT INTO notes (text, level, ts, event_id) VALUES ('', 'mid', 1, 'x')")
    assert name == "notes"
    assert stored == [(1, "it's", "high", None, '{"k":[1]}', 5, "n-1", "")]


def test_a_mapping_refuses_a_key_it_has_no_column_for() -> None:
    with pytest.raises(ValueError, match=r"notes: unknown or repeated columns \['ticket'\]"):
        table("notes", columns=struct_columns(_Note), primary_key=("ticket",))


def test_a_field_of_a_type_no_column_can_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="column pair: no SQL type"):
        column("pair", tuple[int, int])


class _Mark(msgspec.Struct, frozen=True, kw_only=True):
    """An event of one JSON field."""

    payload: dict[str, int]


def test_a_table_added_later_is_created_by_its_version_and_a_lone_json_field_is_text(
    tmp_path: Path,
) -> None:
    older, newer = tmp_path / "older.db", tmp_path / "newer.db"
    marks = table(
        "marks", columns=struct_columns(_Mark), primary_key=("payload",), event=_Mark, since=2
    )
    _migrate(older, migrations((_notes(_Note),), {}, 1))
    now = migrations((_notes(_Note), marks), {}, 2)
    _migrate(older, now, start=1)
    _migrate(newer, now)
    assert _schema(older) == _schema(newer)
    assert query(older, "SELECT name FROM sqlite_master WHERE name = 'marks'") == [("marks",)]
    [(_name, sql, rows)] = insert_handler(marks)([_Mark(payload={"a": 1})])
    with closing(sqlite3.connect(older)) as conn:
        conn.executemany(sql, rows)
        conn.commit()
    assert query(older, "SELECT payload FROM marks") == [('{"a":1}',)]
