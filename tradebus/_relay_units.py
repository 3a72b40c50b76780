"""How a relay cuts the rows it read into what it publishes together: an atomic
group of the sender's, a run of ticks, a row of several ticks, one event, or rows
refused."""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple

from schemas import Event, Tick
from writers import OutboxRow

__all__ = ["TICK_RUN", "Unit", "cut_units", "whole_groups"]

#: The most ticks a relay publishes as one group (sharing one cursor).
TICK_RUN = 1_000
_grp = attrgetter("grp")


class Unit(NamedTuple):
    """Rows published together: an atomic group of the sender's, a run of ticks (one
    group, sharing the cursor of the last), a row of several ticks, one event, or
    rows refused (and why)."""

    rows: list[OutboxRow]
    events: list[Event]
    refused: Exception | None
    #: The topics of refused rows (for their dead letters).
    topics: list[str]


def whole_groups(rows: list[OutboxRow]) -> list[OutboxRow]:
    """``rows`` without a trailing group whose last row they do not hold."""
    last = rows[-1].seq if rows else 0
    end = len(rows)
    while end > 0 and rows[end - 1].grp > last:
        end -= 1
    return rows[:end]


def _group_end(rows: list[OutboxRow], i: int) -> int:
    """Where the group that starts at ``rows[i]`` ends (``i + 1`` if it has none, or if
    its rows are not all there: each then goes alone)."""
    grp = rows[i].grp
    if not grp or grp <= rows[i].seq:
        return i + 1
    end = i
    while end < len(rows) and rows[end].grp == grp:
        if rows[end].seq == grp:
            return end + 1
        end += 1
    return i + 1


def cut_units(rows: list[OutboxRow], events: list[Event | list[Tick] | Exception]) -> list[Unit]:
    """``rows`` (with their events) cut into what is published together, in order."""
    if set(map(type, events)) == {Tick} and not any(map(_grp, rows)):
        # The common case, a stream of ticks: runs of TICK_RUN, by slicing.
        return [
            Unit(rows[i : i + TICK_RUN], events[i : i + TICK_RUN], None, [])  # type: ignore[arg-type]
            for i in range(0, len(rows), TICK_RUN)
        ]
    units: list[Unit] = []
    i = 0
    while i < len(rows):
        decoded = events[i]
        if rows[i].grp < 0:  # a row of several ticks: published as one group
            if isinstance(decoded, Exception):
                units.append(Unit(rows[i : i + 1], [], decoded, []))
            else:
                units.append(Unit(rows[i : i + 1], decoded, None, []))  # type: ignore[arg-type]
            i += 1
            continue
        end = _group_end(rows, i)
        if end == i + 1 and type(decoded) is Tick:
            # A run of ticks goes as one group: ticks were checked when decoded, so
            # their writer has nothing to refuse in them.
            while (
                end < len(rows)
                and end - i < TICK_RUN
                and not rows[end].grp
                and type(events[end]) is Tick
            ):
                end += 1
        members = events[i:end]
        refused = next((e for e in members if isinstance(e, Exception)), None)
        good = [] if refused is not None else members
        units.append(Unit(rows[i:end], good, refused, []))  # type: ignore[arg-type]
        i = end
    return units
