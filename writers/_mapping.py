"""Table mappings: how a table stores an event (or a record), declared once.

A mapping is a plain description, with no SQL: its columns (name, logical type,
nullability, default, the values or bounds a CHECK holds them to), its primary key,
its unique columns, its indexes, what a conflict on its key does, and which field of
the event each column takes on insert. A dialect (:mod:`writers._sqlite_dialect`)
turns it into DDL and INSERT statements.

Most of it is derived from a msgspec Struct: a field is a column of the same name;
its SQL type follows the annotation (``int``, ``float``, ``str``, ``bytes``, and
``dict``/``list`` stored as JSON); ``X | None`` makes it nullable; a constant default
(or a ``dict``/``list`` factory) becomes the column's default. Constraints are opt-in
(``checked=``): the schema holds only those columns to the Literal values or the
``Meta`` bounds of their annotation.

Schema evolution: each column, index and table says the schema version it came with
(``since``); a field added to an event later gets a column with a later ``since``, and
that version's migration adds it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import msgspec

__all__ = [
    "NO_DEFAULT",
    "Column",
    "Index",
    "Kind",
    "Table",
    "column",
    "struct_columns",
    "table",
]

#: The logical type of a column; each dialect names its own SQL type for each.
Kind = Literal["integer", "real", "text", "blob", "json"]

_KINDS: Final[dict[object, Kind]] = {
    bool: "integer",  # 0 or 1
    int: "integer",
    float: "real",
    str: "text",
    bytes: "blob",
    dict: "json",
    list: "json",
}


class _NoDefault:
    """The marker of a column without a default (``None`` is a default: NULL)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Column:
    """One column of a table.

    :param field: the event field whose value the insert writes here (None: the
        insert does not write it, unless ``constant`` says what it writes).
    :param constant: a constant the insert writes (for a column with no ``field``).
    :param generated: the database assigns its value (a row id), unless given.
    :param choices: the values a CHECK allows (from a Literal), when ``checked``.
    :param lower, upper: (bound, inclusive) of a CHECK (from ``Meta``), when ``checked``.
    """

    name: str
    kind: Kind
    nullable: bool
    default: object = NO_DEFAULT
    unique: bool = False
    checked: bool = False
    choices: tuple[str, ...] = ()
    lower: tuple[float, bool] | None = None
    upper: tuple[float, bool] | None = None
    field: str | None = None
    constant: object = NO_DEFAULT
    generated: bool = False
    since: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Index:
    """A secondary index, named ``<table>_<suffix>``."""

    suffix: str
    columns: tuple[str, ...]
    since: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class Table:
    """A table: its columns in order, its keys and what its insert does.

    :param event: the event type whose events the table stores, one row each (None:
        the table holds state other SQL maintains, or the writer's own rows).
    :param clustered: rows are stored in primary-key order (no separate row id).
    :param on_conflict: ``"refuse"``: an insert that collides with a key fails (or a
        trigger decides); ``"update"``: it updates the stored row's other columns.
    :param autoincrement: its generated row id never takes a value used before, even
        once the rows holding the largest ones were deleted (an outbox's positions).
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    event: type[msgspec.Struct] | None = None
    clustered: bool = False
    on_conflict: Literal["refuse", "update"] = "refuse"
    since: int = 1
    autoincrement: bool = False

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        unknown = [
            n for n in (*self.primary_key, *(n for i in self.indexes for n in i.columns))
            if n not in names
        ]  # fmt: skip
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: unknown or repeated columns {unknown or names}")

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")

    @property
    def written(self) -> tuple[Column, ...]:
        """The columns an insert writes (from the event, or a constant)."""
        return tuple(c for c in self.columns if c.field is not None or c.constant is not NO_DEFAULT)

    def event_columns(self, version: int) -> tuple[str, ...]:
        """The columns holding a field of the event of the same name (but event_id), as
        of schema ``version``."""
        return tuple(
            c.name
            for c in self.columns
            if c.field == c.name and c.name != "event_id" and c.since <= version
        )


# ------------------------------------------------------------- from annotations


def column(
    name: str,
    annotation: Any,
    *,
    default: object = NO_DEFAULT,
    checked: bool = False,
    unique: bool = False,
    field: str | None = None,
    constant: object = NO_DEFAULT,
    generated: bool = False,
    since: int = 1,
) -> Column:
    """A column whose type, nullability and constraints follow ``annotation``."""
    base, nullable, metas, choices = _unwrap(annotation)
    kind = _KINDS.get(typing.get_origin(base) or base)
    if kind is None:
        raise TypeError(f"column {name}: no SQL type for the annotation {annotation!r}")
    lower = upper = None
    for meta in metas:
        if meta.gt is not None:
            lower = (float(meta.gt), False)
        if meta.ge is not None:
            lower = (float(meta.ge), True)
        if meta.lt is not None:
            upper = (float(meta.lt), False)
        if meta.le is not None:
            upper = (float(meta.le), True)
    return Column(
        name=name,
        kind=kind,
        nullable=nullable,
        default=default,
        unique=unique,
        checked=checked,
        choices=choices if checked else (),
        lower=lower if checked else None,
        upper=upper if checked else None,
        field=field,
        constant=constant,
        generated=generated,
        since=since,
    )


def struct_columns(
    struct: type[msgspec.Struct],
    *,
    checked: Iterable[str] = (),
    unique: Iterable[str] = (),
    written: bool = True,
    generated: Iterable[str] = (),
    since: Mapping[str, int] | None = None,
) -> tuple[Column, ...]:
    """A column per field of ``struct``, in field order.

    :param written: whether the insert writes each field into its column.
    :param since: the schema version of the columns of fields added later (else 1).
    """
    checked, unique, generated = set(checked), set(unique), set(generated)
    since = dict(since or {})
    columns = tuple(
        column(
            f.name,
            f.type,
            default=_default(f),
            checked=f.name in checked,
            unique=f.name in unique,
            field=f.name if written else None,
            generated=f.name in generated,
            since=since.get(f.name, 1),
        )
        for f in msgspec.structs.fields(struct)
    )
    missing = (checked | unique | generated | set(since)) - {c.name for c in columns}
    if missing:
        raise ValueError(f"{struct.__name__} has no fields {sorted(missing)}")
    return columns


def table(
    name: str,
    *,
    columns: Iterable[Column],
    primary_key: tuple[str, ...],
    order: tuple[str, ...] | None = None,
    indexes: tuple[Index, ...] = (),
    event: type[msgspec.Struct] | None = None,
    clustered: bool = False,
    on_conflict: Literal["refuse", "update"] = "refuse",
    since: int = 1,
    autoincrement: bool = False,
) -> Table:
    """A :class:`Table`, its columns in the given order (or as ``order`` names them);
    ``since``: the schema version whose migration creates it."""
    by_name: Mapping[str, Column] = {c.name: c for c in columns}
    if order is not None:
        if sorted(order) != sorted(by_name):
            raise ValueError(f"table {name}: the order {order} does not name {sorted(by_name)}")
        by_name = {n: by_name[n] for n in order}
    return Table(
        name=name,
        columns=tuple(by_name.values()),
        primary_key=primary_key,
        indexes=indexes,
        event=event,
        clustered=clustered,
        on_conflict=on_conflict,
        since=since,
        autoincrement=autoincrement,
    )


def _unwrap(annotation: Any) -> tuple[Any, bool, list[msgspec.Meta], tuple[str, ...]]:
    """(base type, nullable, Meta constraints, Literal values) of ``annotation``."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"no SQL type for the union {annotation!r}")
        annotation = members[0]
        origin = typing.get_origin(annotation)
    metas: list[msgspec.Meta] = []
    if origin is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        metas = [m for m in extras if isinstance(m, msgspec.Meta)]
        origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = tuple(typing.get_args(annotation))
        return type(choices[0]), nullable, metas, tuple(map(str, choices))
    return annotation, nullable, metas, ()


def _default(field: msgspec.structs.FieldInfo) -> object:
    """A field's default as a column default: a constant, or the empty JSON of a
    ``dict``/``list`` factory; None and other factories (a clock, an id) give none."""
    if field.default is not msgspec.NODEFAULT:
        return NO_DEFAULT if field.default is None else field.default
    if field.default_factory in (dict, list):
        return field.default_factory()
    return NO_DEFAULT
