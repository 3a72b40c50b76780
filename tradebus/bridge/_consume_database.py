"""Which of a node's databases a consumer consumes a stream into."""

from __future__ import annotations

from writers import DatabaseSpec

from .._node import Node
from ._errors import BridgeOptionError
from ._names import stream_name

__all__ = ["consumed_database"]


def consumed_database(
    node: Node, database: str | None, stream: str | None, prefix: str
) -> DatabaseSpec:
    """``database`` of ``node``; if not given, the one ``stream``'s name ends with,
    else the node's only hosted one.

    :raises BridgeOptionError: if none of those names one database.
    """
    names = [spec.name for spec in node.topology.databases]
    if database is not None:
        if database not in names:
            raise BridgeOptionError("database", database, f"one of {names}")
        return node.topology.spec(database)
    if stream is not None:
        for spec in node.topology.databases:
            if stream == stream_name(spec.name, prefix) or stream.upper().endswith(
                "_" + spec.name.upper()
            ):
                return spec
    hosted = [spec for spec in node.topology.databases if node.topology.owner(spec) in node.roles]
    if len(hosted) == 1:
        return hosted[0]
    raise BridgeOptionError(
        "database", database, f"one of {names} (the node hosts several, or the stream's "
        "name does not say which)"
    )  # fmt: skip
