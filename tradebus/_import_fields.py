"""The fields of a row of ticks: a price, a volume, a local date and time of day, a
currency pair's name, and the cache of minutes' UTC times the row parsers keep.

Each parse raises :class:`BadRow` naming the field and the value.
"""

from __future__ import annotations

import math
import re
from typing import Final

from ._import_time import NS, BadRow, Clock

__all__ = [
    "ns_in_minute",
    "pair_name",
    "parse_date",
    "parse_price",
    "parse_time_of_day",
    "parse_volume",
    "remember",
]

_NS: Final = NS


def parse_price(field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadRow(field, text, "not a number") from None
    if not 0.0 < value < math.inf:
        raise BadRow(field, text, "a price must be a finite number > 0")
    return value


def parse_volume(text: str) -> float:
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise BadRow("volume", text, "not a number") from None
    if not 0.0 <= value < math.inf:
        raise BadRow("volume", text, "a volume must be a finite number >= 0")
    return value


def parse_date(clock_: Clock, cache: dict[str, int], text: str, y: str, m: str, d: str) -> int:
    day = cache.get(text)
    if day is None:
        try:
            day = clock_.day(int(y), int(m), int(d))
        except ValueError:
            raise BadRow("date", text, "not a valid date") from None
        cache[text] = day
    return day


def parse_time_of_day(field: str, text: str, h: str, mi: str, s: str, frac: str) -> tuple[int, int]:
    """(hour, ns since midnight) of a local time of day."""
    try:
        hour, minute, second = int(h), int(mi), int(s)
        fraction = int(frac.ljust(9, "0")[:9]) if frac else 0
    except ValueError:
        raise BadRow(field, text, "not a time of day (HH:MM:SS.mmm)") from None
    if hour > 23 or minute > 59 or second > 60:
        raise BadRow(field, text, "not a time of day (HH:MM:SS.mmm)")
    return hour, (hour * 3600 + minute * 60 + second) * _NS + fraction


def ns_in_minute(hour: int, minute: str, of_day: int) -> int:
    """The ns of a time of day (``of_day``, from :func:`parse_time_of_day`) since the start
    of its minute (a leap second's 60 included)."""
    return of_day - (hour * 3600 + int(minute) * 60) * _NS


#: How many minutes' UTC times a parser keeps (a file's rows come in time order).
_CACHED_MINUTES: Final = 100_000


def remember(cache: dict[str, int], key: str, value: int) -> None:
    if len(cache) >= _CACHED_MINUTES:
        cache.clear()
    cache[key] = value


def pair_name(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())
