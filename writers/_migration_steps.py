"""The migration scripts of a database, walked from its table mappings once for
every SQL dialect: which tables a version creates (with their indexes as of that
version), and which columns and indexes it adds to tables of earlier versions. A
dialect says only how to write a table and a column."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ._mapping import NO_DEFAULT, Column, Index, Table

__all__ = ["create_index", "migration_scripts"]


def create_index(t: Table, index: Index) -> str:
    """The CREATE INDEX of ``index`` (the same in every dialect)."""
    return f"CREATE INDEX {t.name}_{index.suffix} ON {t.name} ({', '.join(index.columns)});\n"


def _add_column(t: Table, c: Column, column_sql: Callable[[Table, Column], str]) -> str:
    if not c.nullable and c.default is NO_DEFAULT:
        raise ValueError(f"{t.name}.{c.name}: a column added later needs a default or NULL")
    return f"ALTER TABLE {t.name} ADD COLUMN {column_sql(t, c)};\n"


def _schema_changes(
    tables: Iterable[Table],
    version: int,
    create_table: Callable[[Table, int], str],
    column_sql: Callable[[Table, Column], str],
) -> str:
    parts: list[str] = []
    for t in tables:
        if t.since == version:
            parts.append(create_table(t, version))
            parts.extend(create_index(t, i) for i in t.indexes if i.since <= version)
        elif t.since < version:
            parts.extend(_add_column(t, c, column_sql) for c in t.columns if c.since == version)
            parts.extend(create_index(t, i) for i in t.indexes if i.since == version)
    return "".join(parts)


def migration_scripts(
    tables: Sequence[Table],
    written: Mapping[int, str],
    versions: int,
    *,
    create_table: Callable[[Table, int], str],
    column_sql: Callable[[Table, Column], str],
) -> tuple[str, ...]:
    """The numbered migration scripts of a database holding ``tables``: each is what
    the mappings change in that version (in the dialect of ``create_table`` and
    ``column_sql``), then the hand-written SQL ``written`` holds for it (views,
    triggers).

    :raises ValueError: for hand-written SQL of a version out of range, or a column
        added later with neither a default nor NULL.
    """
    if any(v < 1 or v > versions for v in written):
        raise ValueError(f"hand-written SQL for versions {sorted(written)} of {versions}")
    return tuple(
        _schema_changes(tables, version, create_table, column_sql) + written.get(version, "")
        for version in range(1, versions + 1)
    )
