"""A file's rows of ticks parsed many at once (the bulk parsers of HistData's and
TrueFX's formats).

Each step (split, slice, int, float, a check) is one call mapped over every row, in C.
The checks are those of the row parsers' fast paths, so that the values are theirs; any
row that is not such a plain one makes the whole call give up (None), and its lines are
parsed one by one, which names the bad field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import repeat
from operator import add, itemgetter, mul
from typing import Final

from ._import_fields import pair_name
from ._import_time import NS, BadRow, BulkParser, Columns

__all__ = ["histdata_many", "truefx_many"]

_MAX_TS: Final = 2**63 - 1


def _positive(values: list[float]) -> bool:
    """Whether every value is a finite number > 0 (a NaN makes the sum a NaN)."""
    return min(values) > 0.0 and math.isfinite(sum(values))


def _non_negative(values: list[float]) -> bool:
    return min(values) >= 0.0 and math.isfinite(sum(values))


def _fields(lines: list[str], count: int, separator: str = ",") -> list[list[str]] | None:
    """The ``count`` columns of ``lines`` split at ``separator``, or None if a line has
    more or fewer fields.

    One split of all the lines joined, with a field ``"\\n"`` between two lines (no
    line holds one): where each of them falls tells that every line has ``count``.
    """
    n = len(lines)
    width = count + 1
    flat = f"{separator}\n{separator}".join(lines).split(separator)
    if len(flat) != width * n - 1 or flat[count::width].count("\n") != n - 1:
        return None
    return [flat[i::width] for i in range(count)]


def _bases(
    keys: list[str], minutes: dict[str, int], minute: Callable[[str], int]
) -> list[int] | None:
    """The UTC ns of each line's minute (``keys``), those not in ``minutes`` worked out
    by ``minute`` (which caches them); None if one is not a valid minute (or the
    cache forgot one meanwhile), or a time in one of them (up to a minute after its
    start) is one a tick cannot carry (as :func:`bounded` checks a row's: a step is
    refused that a row by row parse might take, never the other way)."""
    starts = []
    try:
        for key in dict.fromkeys(keys):  # a file's rows come in time order: few
            start = minutes.get(key)
            starts.append(minute(key) if start is None else start)
        if min(starts) < 0 or max(starts) > _LAST_MINUTE:
            return None
        return list(map(minutes.__getitem__, keys))
    except (BadRow, KeyError):
        return None


#: The latest start of a minute all of whose times a tick can carry.
_LAST_MINUTE: Final = _MAX_TS - 60 * NS + 1


_HEAD_13: Final = itemgetter(slice(None, 13))
_TAIL_13: Final = itemgetter(slice(13, None))
_HEAD_15: Final = itemgetter(slice(None, 15))
_TAIL_15: Final = itemgetter(slice(15, None))
_AT_2: Final = itemgetter(2)
#: ns in a second, as a float (a time of day's seconds read as one float: exact after
#: rounding, for 3 decimals below 60).
_NS_FLOAT: Final = 1e9


def histdata_many(minutes: dict[str, int], minute: Callable[[str], int]) -> BulkParser:
    """The bulk of :func:`histdata_parsers`: its cache of minutes, and what works one out."""

    def many(lines: list[str]) -> Columns | None:
        if not lines:
            return None
        columns = _fields(lines, 4)
        if columns is None:
            return None
        stamps, bids_text, asks_text, volumes_text = columns
        try:
            millis = list(map(_TAIL_13, stamps))  # "SSmmm": ms into the minute
            if set(map(len, millis)) != {5} or not "".join(millis).isdigit():
                return None
            in_minute = list(map(int, millis))
            if max(in_minute) >= 60_000:
                return None
            bases = _bases(list(map(_HEAD_13, stamps)), minutes, minute)
            if bases is None:
                return None
            ts = list(map(add, bases, map(mul, in_minute, repeat(1_000_000))))
            bids = list(map(float, bids_text))
            asks = list(map(float, asks_text))
            if volumes_text.count("0") == len(volumes_text):  # HistData's: always 0
                volumes = [0.0] * len(volumes_text)
            else:
                volumes = list(map(float, volumes_text))  # an empty one: one by one
        except ValueError:
            return None
        if _positive(bids) and _positive(asks) and _non_negative(volumes):
            return ts, bids, asks, None, volumes
        return None

    return many


def truefx_many(minutes: dict[str, int], minute: Callable[[str], int], wanted: str) -> BulkParser:
    """The bulk of :func:`truefx_parsers`: a cache of minutes (``YYYYMMDD HH:MM:``), what works
    one out, and the pair the import is of (letters and digits)."""

    def many(lines: list[str]) -> Columns | None:
        if not lines:
            return None
        columns = _fields(lines, 4)
        if columns is None:
            return None
        pairs, stamps, bids_text, asks_text = columns
        n = len(lines)
        if pairs.count(pairs[0]) != n or pair_name(pairs[0]) != wanted:
            return None
        try:
            seconds = list(map(_TAIL_15, stamps))  # "SS.mmm"
            joined = "".join(seconds)
            if (
                set(map(len, seconds)) != {6}
                or joined.count(".") != n
                or set(map(_AT_2, seconds)) != {"."}
                or not joined.replace(".", "").isdigit()
            ):
                return None
            in_minute = list(map(round, map(mul, map(float, seconds), repeat(_NS_FLOAT))))
            if max(in_minute) >= 60 * NS:
                return None
            bases = _bases(list(map(_HEAD_15, stamps)), minutes, minute)
            if bases is None:
                return None
            ts = list(map(add, bases, in_minute))
            bids = list(map(float, bids_text))
            asks = list(map(float, asks_text))
        except ValueError:
            return None
        if _positive(bids) and _positive(asks):
            return ts, bids, asks, None, [0.0] * n
        return None

    return many
