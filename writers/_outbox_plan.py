"""Appending a batch's forwarded events to the outbox: the rows of one transaction.

Each event goes in a row of its own, except ticks: consecutive ticks for one
database (published alone, not in a group) share rows, up to :data:`TICKS_PER_ROW`
per row, encoded as one msgpack array. A tick row is marked by a negative ``grp``:
minus the number of ticks it holds. Its position is delivered whole or not at all
(the owner's relay commits its ticks and its position in one transaction), as a
row of one event is. Rows keep the order the events were published in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, Final

import msgspec

from eventbus import Message
from schemas import Event, Tick, pack_array

from ._specs import Statement
from ._sqlite_outbox import APPEND
from ._store import Poison, encoded, event_name

__all__ = ["TICKS_PER_ROW", "append_statements"]

#: The most ticks one outbox row holds.
TICKS_PER_ROW: Final = 1_000
#: Rows per multi-row INSERT into the outbox (6 parameters each).
_OUTBOX_CHUNK: Final = 256
_APPEND_CHUNK: Final = (
    APPEND.split(" VALUES ")[0] + " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * _OUTBOX_CHUNK)
)
_encode_list: Final = msgspec.msgpack.Encoder().encode
_envelope: Final = attrgetter("envelope")


class _Rows:
    """The rows one batch appends, and the positions they take per database."""

    __slots__ = ("groups", "now", "outbox", "rows", "seq")

    def __init__(self, seq: int, outbox: dict[str, list[int]]) -> None:
        self.seq = seq
        self.outbox = outbox
        self.rows: list[list[Any]] = []
        self.groups: dict[int, list[list[Any]]] = {}
        self.now = time.time_ns()

    def add(self, destination: str, topic: str, data: bytes, grp: int) -> list[Any]:
        row = [self.seq, destination, topic, data, grp, self.now]
        self.rows.append(row)
        self.outbox.setdefault(destination, [self.seq, self.seq])[1] = self.seq
        self.seq += 1
        return row

    def event(self, message: Message, destination: str) -> None:
        data, unencodable = encoded(message)
        if unencodable:
            raise Poison(f"{event_name(message)} for {destination!r}{unencodable}")
        row = self.add(destination, message.topic, data, 0)
        if message.group:
            self.groups.setdefault(message.group, []).append(row)

    def ticks(self, destination: str, messages: Sequence[Message], ticks: list[Any]) -> None:
        """Append ``ticks`` (of ``messages``, for ``destination``, in order) in rows of
        up to :data:`TICKS_PER_ROW`."""
        local = not any(envelope.foreign for envelope in set(map(_envelope, messages)))
        for start in range(0, len(ticks), TICKS_PER_ROW):
            part = messages[start : start + TICKS_PER_ROW]
            if len(part) == 1:  # a row of one: as any event
                self.event(part[0], destination)
                continue
            try:
                if local:  # the ticks themselves, encoded in one call
                    data = _encode_list(ticks[start : start + TICKS_PER_ROW])
                else:
                    data = pack_array([message.data for message in part])
            except Exception:
                for message in part:
                    self.event(message, destination)
                continue
            self.add(destination, _TICK_ROW_TOPIC, data, -len(part))


#: The topic column of a row of several ticks (each tick's topic is its own).
_TICK_ROW_TOPIC: Final = Tick.topic_prefix


def append_statements(
    forward: dict[type[Event], str],
    batch: Sequence[Message],
    events: list[Any],
    outbox_seq: int,
    statements: list[Statement],
    outbox: dict[str, list[int]],
) -> tuple[list[Any], int, int]:
    """Append the events of ``batch`` that ``forward`` sends elsewhere (by type: the
    database) to the outbox, from position ``outbox_seq`` on (statements added to
    ``statements``; first and last position per database in ``outbox``); return the
    events kept, the next position and how many rows were appended.

    :raises Poison: for an event that cannot be encoded.
    """
    kept: list[Any] = []
    appended = _Rows(outbox_seq, outbox)
    tick_destination = forward.get(Tick)
    if (
        tick_destination is not None
        and set(map(type, events)) == {Tick}
        and not any(envelope.group for envelope in set(map(_envelope, batch)))
    ):  # the common case: a batch of ticks, each published alone
        appended.ticks(tick_destination, batch, events)
        return [], *_statements(appended, statements)
    runs: dict[str, tuple[list[Message], list[Any]]] = {}
    for message, event in zip(batch, events, strict=True):
        destination = forward.get(type(event))
        if destination is None:
            kept.append(event)
        elif type(event) is Tick and not message.group:
            run = runs.setdefault(destination, ([], []))
            run[0].append(message)
            run[1].append(event)
        else:
            # The ticks before it first: rows keep the order events were published in.
            for ticks_for, run in runs.items():
                appended.ticks(ticks_for, *run)
            runs.clear()
            appended.event(message, destination)
    for destination, run in runs.items():
        appended.ticks(destination, *run)
    return kept, *_statements(appended, statements)


def _statements(appended: _Rows, statements: list[Statement]) -> tuple[int, int]:
    """Add the statements appending the rows of ``appended``; the next position and
    how many rows there are."""
    for members in appended.groups.values():
        if len(members) > 1:  # a group's rows name its last one's position
            for row in members:
                row[4] = members[-1][0]
    rows = appended.rows
    # Whole chunks as multi-row INSERTs (one statement runs many rows: far fewer
    # calls into SQLite), the rest one row at a time.
    whole = len(rows) - len(rows) % _OUTBOX_CHUNK
    if whole:
        chunks = [
            list(chain.from_iterable(rows[i : i + _OUTBOX_CHUNK]))
            for i in range(0, whole, _OUTBOX_CHUNK)
        ]
        statements.append(("", _APPEND_CHUNK, chunks))
    if whole < len(rows):
        statements.append(("", APPEND, rows[whole:]))
    return appended.seq, len(rows)
