"""The SQLite dialect: DDL, migrations and INSERT handlers generated from mappings.

Everything here follows from a :class:`~writers._mapping.Table`; the SQL a mapping
cannot say (triggers, the position an execution opens, which candle wins) is
hand-written in :mod:`writers._sqlite_rules` and :mod:`writers._sqlite_integrity`
and handed in by name.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

from ._mapping import NO_DEFAULT, Column, Kind, Table
from ._migration_steps import migration_scripts

__all__ = [
    "Handler",
    "Statement",
    "create_table",
    "insert_handler",
    "insert_sql",
    "literal",
    "migrations",
]

#: (table, sql, rows): one ``executemany`` inside the batch's transaction; ``table``
#: names where each of ``rows`` is written, for statistics ("" for statements that
#: only update what other rows say, or that are counted otherwise).
Statement = tuple[str, str, Sequence[Sequence[Any]]]
#: Turns the events of one type (in publish order) into statements.
Handler = Callable[[Sequence[Any]], list[Statement]]

_TYPES: Final[dict[Kind, str]] = {
    "integer": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "blob": "BLOB",
    "json": "TEXT",
}

_json = msgspec.json.encode


def literal(value: object) -> str:
    """``value`` as an SQL literal (a string, a number, or JSON text)."""
    if value is None:
        raise TypeError(f"no SQL literal for {value!r}")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        value = _json(value).decode()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no SQL literal for {value!r}")


# ------------------------------------------------------------------------- DDL


def _check(c: Column) -> str | None:
    if not c.checked:
        return None
    if c.choices:
        return f"{c.name} IN ({', '.join(map(literal, c.choices))})"
    if c.lower is not None and c.upper is not None and c.lower[1] and c.upper[1]:
        return f"{c.name} BETWEEN {literal(c.lower[0])} AND {literal(c.upper[0])}"
    bounds: list[str] = []
    if c.lower is not None:
        bounds.append(f"{c.name} {'>=' if c.lower[1] else '>'} {literal(c.lower[0])}")
    if c.upper is not None:
        bounds.append(f"{c.name} {'<=' if c.upper[1] else '<'} {literal(c.upper[0])}")
    if not bounds:
        raise ValueError(f"column {c.name} is checked but its annotation has no constraint")
    return " AND ".join(bounds)


def _column_sql(t: Table, c: Column) -> str:
    if c.generated and (t.primary_key != (c.name,) or c.kind != "integer" or t.clustered):
        # SQLite assigns only a row id: an INTEGER PRIMARY KEY of a rowid table.
        raise ValueError(f"{t.name}.{c.name}: only a row id (INTEGER PRIMARY KEY) is generated")
    parts = [c.name, _TYPES[c.kind]]
    if t.primary_key == (c.name,):
        parts.append("PRIMARY KEY AUTOINCREMENT" if t.autoincrement else "PRIMARY KEY")
    elif not c.nullable:
        parts.append("NOT NULL")
    if c.default is not NO_DEFAULT:
        parts.append(f"DEFAULT {literal(c.default)}")
    if c.unique:
        parts.append("UNIQUE")
    check = _check(c)
    if check is not None:
        parts.append(f"CHECK ({check})")
    return " ".join(parts)


def create_table(t: Table, version: int | None = None) -> str:
    """The CREATE TABLE of ``t`` (with its columns as of schema ``version``, if given)."""
    lines = [_column_sql(t, c) for c in t.columns if version is None or c.since <= version]
    if len(t.primary_key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(t.primary_key)})")
    body = ",\n    ".join(lines)
    rowid = " WITHOUT ROWID" if t.clustered else ""
    return f"CREATE TABLE {t.name} (\n    {body}\n){rowid};\n"


def migrations(
    tables: Sequence[Table], written: Mapping[int, str], versions: int
) -> tuple[str, ...]:
    """The numbered migration scripts of a database holding ``tables``, in this
    dialect (see :func:`~writers._migration_steps.migration_scripts`)."""
    return migration_scripts(
        tables, written, versions, create_table=create_table, column_sql=_column_sql
    )


# ----------------------------------------------------------------------- INSERT


def _written(t: Table) -> tuple[tuple[str, ...], list[str]]:
    """(the fields an insert binds, in order; the SQL value of each written column)."""
    fields: list[str] = []
    values: list[str] = []
    for c in t.written:
        if c.field is None:
            values.append(literal(c.constant))
            continue
        if c.field not in fields:
            fields.append(c.field)
        values.append(f"?{fields.index(c.field) + 1}")
    if [v for v in values if v.startswith("?")] == [f"?{n}" for n in range(1, len(fields) + 1)]:
        values = ["?" if v.startswith("?") else v for v in values]  # each bound once, in order
    return tuple(fields), values


def insert_sql(t: Table, upsert_guard: str = "") -> str:
    """The INSERT of one event's row into ``t``. With ``on_conflict="update"``, a
    row whose key is stored already updates the stored row's other written columns,
    where ``upsert_guard`` (an SQL condition, if any) holds."""
    _, values = _written(t)
    names = [c.name for c in t.written]
    sql = f"INSERT INTO {t.name} ({', '.join(names)})\nVALUES ({', '.join(values)})"
    if t.on_conflict == "update":
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in t.primary_key)
        sql += f"\nON CONFLICT ({', '.join(t.primary_key)}) DO UPDATE SET {updates}"
        if upsert_guard:
            sql += f"\nWHERE {upsert_guard}"
    elif upsert_guard:
        raise ValueError(f"{t.name}: an upsert guard for a table whose conflicts are refused")
    return sql


def _row_of(t: Table) -> Callable[[Any], Sequence[Any]]:
    """The parameters of an event's row: its fields, JSON columns encoded to text."""
    fields, _ = _written(t)
    json_fields = {c.field for c in t.written if c.kind == "json"}
    as_json = [i for i, f in enumerate(fields) if f in json_fields]
    many = operator.attrgetter(*fields)
    get: Callable[[Any], Sequence[Any]] = many
    if len(fields) == 1:  # attrgetter of one name returns the value, not a tuple
        get = lambda event: (many(event),)  # noqa: E731 - a row of one, as below
    if not as_json:
        return get

    def row(event: Any) -> Sequence[Any]:
        values = list(get(event))
        for i in as_json:
            values[i] = _json(values[i]).decode()
        return values

    return row


def insert_handler(t: Table, *, upsert_guard: str = "", then: Handler | None = None) -> Handler:
    """The handler that stores each event as a row of ``t``, then runs ``then``'s
    statements for the same events (if any)."""
    if t.event is None:
        raise ValueError(f"table {t.name} stores no event")
    sql = insert_sql(t, upsert_guard)
    row = _row_of(t)
    table = t.name

    def handle(events: Sequence[Any]) -> list[Statement]:
        statements: list[Statement] = [(table, sql, list(map(row, events)))]
        if then is not None:
            statements.extend(then(events))
        return statements

    handle.__qualname__ = handle.__name__ = f"store_{table}"
    return handle
