"""How the bridge names things on NATS: streams, subjects and message headers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from eventbus import Pattern, check_topic
from writers import DatabaseSpec

from ._errors import BridgeOptionError

__all__ = [
    "BATCH",
    "MSG_ID",
    "ORIGIN",
    "SEQ",
    "TopicHomes",
    "check_prefix",
    "check_stream",
    "database_of",
    "stream_name",
    "subject_of",
    "topic_of",
]

#: JetStream's de-duplication header.
MSG_ID: Final = "Nats-Msg-Id"
#: Which forwarder lane published the message (``<instance>.<lane>``).
ORIGIN: Final = "Tradebus-Origin"
#: The message's number in its origin's sequence (1, 2, ...).
SEQ: Final = "Tradebus-Seq"
#: How many events a batched message carries (absent: one, the payload itself).
BATCH: Final = "Tradebus-Batch"
_STREAM: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is empty or a valid subject (no wildcards), else raise."""
    if not isinstance(prefix, str):
        raise BridgeOptionError("prefix", prefix, "a str: '' or dot-separated subject tokens")
    if prefix:
        try:
            check_topic(prefix)
        except ValueError as exc:
            raise BridgeOptionError(
                "prefix", prefix, f"'' or a subject without wildcards ({exc})"
            ) from None
    return prefix


def check_stream(field: str, name: object) -> str:
    """``name`` if JetStream accepts it as a stream or consumer name, else raise."""
    if not isinstance(name, str) or not _STREAM.fullmatch(name):
        raise BridgeOptionError(field, name, "1 to 64 letters, digits, '_' or '-'")
    return name


def stream_name(database: str, prefix: str = "") -> str:
    """The stream of ``database``'s events: ``TRADEBUS_MAIN``; with a subject prefix,
    ``TRADEBUS_<PREFIX>_MAIN`` (dots as ``_``)."""
    parts = ["TRADEBUS"]
    if prefix:
        parts.append(re.sub(r"[^A-Za-z0-9_-]", "_", prefix).upper())
    parts.append(database.upper())
    return "_".join(parts)


def subject_of(topic: str, prefix: str = "") -> str:
    """The NATS subject of a bus topic (topics are NATS subjects already)."""
    return f"{prefix}.{topic}" if prefix else topic


def topic_of(subject: str, prefix: str = "") -> str | None:
    """The bus topic of a subject, or None if it lacks the prefix."""
    if not prefix:
        return subject
    if subject.startswith(prefix + ".") and len(subject) > len(prefix) + 1:
        return subject[len(prefix) + 1 :]
    return None


def database_of(topic: str, databases: Sequence[DatabaseSpec]) -> DatabaseSpec | None:
    """The database whose topics ``topic`` matches (None if none's)."""
    for spec in databases:
        if any(Pattern(p).matches(topic) for p in spec.topics):
            return spec
    return None


class TopicHomes:
    """:func:`database_of`, remembered for the topics seen (up to ``limit`` of them)."""

    def __init__(self, databases: Sequence[DatabaseSpec], limit: int = 100_000) -> None:
        self.databases = tuple(databases)
        self.limit = limit
        self._homes: dict[str, DatabaseSpec | None] = {}

    def __call__(self, topic: str) -> DatabaseSpec | None:
        homes = self._homes
        try:
            return homes[topic]
        except KeyError:
            pass
        if len(homes) >= self.limit:
            homes.clear()
        home = homes[topic] = database_of(topic, self.databases)
        return home
