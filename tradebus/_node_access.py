"""What a node refuses its caller: a role it does not host, and a database kept in
PostgreSQL where a SQLite file is needed (a reader, a :class:`~writers.WriterActor`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from writers import DatabaseSpec, PostgresWriter, WriterActor

from ._exceptions import AccessDenied, TradebusError
from ._topology import Topology

__all__ = ["check_sqlite", "require_role", "sqlite_writer"]


def require_role(
    topology: Topology, roles: Sequence[str], role: str, spec: DatabaseSpec | None = None
) -> None:
    """Refuse ``role`` (to write ``spec``, if given) unless it is one of the node's
    ``roles``.

    :raises AccessDenied: if it is not.
    """
    if role in roles:
        return
    if role not in topology.roles:
        raise AccessDenied(
            f"there is no role {role!r}: the roles are {', '.join(topology.roles)} "
            f"(this node hosts {', '.join(roles) or 'none of them'})"
        )
    what = f"write {spec.name!r} ({spec.filename})" if spec else f"act as role {role!r}"
    raise AccessDenied(
        f"this node may not {what}: it hosts {', '.join(roles) or 'no roles'}; "
        f"the owners are {topology.describe()}"
    )


def sqlite_writer(writer: WriterActor | PostgresWriter) -> WriterActor:
    """``writer``, if it writes a SQLite file.

    :raises TradebusError: if it is a PostgresWriter.
    """
    if not isinstance(writer, WriterActor):
        raise TradebusError(
            f"the {writer.spec.name!r} database is kept in PostgreSQL ({writer.path}): "
            "its writer is a PostgresWriter, see node.store_writer()"
        )
    return writer


def check_sqlite(
    spec: DatabaseSpec,
    stores: Mapping[str, str],
    writers: Mapping[str, WriterActor | PostgresWriter],
) -> None:
    """Refuse to read ``spec`` as a file if it is one of ``stores`` (kept in
    PostgreSQL; ``writers``: the node's, by database name, to say where).

    :raises TradebusError: if it is.
    """
    if spec.name in stores:
        where = writers[spec.name].path if spec.name in writers else "elsewhere"
        raise TradebusError(
            f"the {spec.name!r} database is kept in PostgreSQL ({where}), "
            "not in a file: read it there (with asyncpg or psql); the node's readers, "
            "the journal and the API read SQLite files only"
        )
