"""Ids made after a node starts sort after every id its data directory holds.

The state of positions and recommendations follows their updates in ``event_id``
order, and an id's order is its maker's clock. A run whose clock was ahead (then
set right) leaves ids that a later run with the right clock would sort before: its
updates would lose. So a node, as it starts, raises this process's id floor
(:func:`schemas.observe_event_id`) to the greatest id stored in each database of its
data directory.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import anyio.to_thread

import schemas
from writers import reader_uri

from ._references import EVENT_TABLES

__all__ = ["greatest_event_id", "observe_stored_event_ids"]

logger = logging.getLogger("tradebus")

_TABLES = tuple(sorted(set(EVENT_TABLES.values())))
# Every well-formed id starts with a digit or a to f: an index walk downward from "g"
# skips ids of any other form that sort above them (they can be there only if they
# came in before validation refused them).
_ABOVE_IDS = "g"


def greatest_event_id(path: Path) -> str | None:
    """The greatest well-formed ``event_id`` stored in the database ``path`` (read
    only; one index walk per table keyed by ``event_id``), or None if it holds none.

    :raises sqlite3.Error: if the file cannot be read as a database.
    """
    with closing(sqlite3.connect(reader_uri(path), uri=True)) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                f"AND name IN ({', '.join('?' * len(_TABLES))})",
                _TABLES,
            )
        ]
        greatest: str | None = None
        for name in names:
            cursor = conn.execute(
                f"SELECT event_id FROM {name} WHERE event_id < ? ORDER BY event_id DESC",
                (_ABOVE_IDS,),
            )
            for (event_id,) in cursor:
                if schemas.is_event_id(event_id):
                    if greatest is None or event_id > greatest:
                        greatest = event_id
                    break
                if greatest is not None and event_id <= greatest:
                    break
            cursor.close()
    return greatest


async def observe_stored_event_ids(paths: Iterable[Path]) -> None:
    """Raise this process's id floor to the greatest ``event_id`` stored in each of the
    databases ``paths`` that exist (:func:`schemas.observe_event_id`).

    A file that cannot be read is skipped (its writer, if this node hosts one, has
    reported it already).
    """
    for path in paths:
        if not await anyio.Path(path).exists():
            continue
        try:
            event_id = await anyio.to_thread.run_sync(greatest_event_id, path)
        except sqlite3.Error as exc:
            logger.warning("cannot read the event ids stored in %s: %s", path, exc)
            continue
        if event_id is not None:
            _observe(path, event_id)


# A stored id further ahead of this clock than this is worth a warning.
_AHEAD_WARNING_MS = 60_000


def _observe(path: Path, event_id: str) -> None:
    ahead = schemas.event_id_ts(event_id) - time.time_ns() // 1_000_000
    try:
        schemas.observe_event_id(event_id)
    except ValueError as exc:
        logger.warning("ids made now may sort before those stored in %s: %s", path, exc)
        return
    if ahead > _AHEAD_WARNING_MS:
        logger.warning(
            "%s holds event id %s, made by a clock %.0f s ahead of this one: the ids (and "
            "so the ts) of the events logged now follow it until this clock catches up",
            path,
            event_id,
            ahead / 1000,
        )
