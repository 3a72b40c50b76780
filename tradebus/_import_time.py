"""The time zones of tick files: local wall-clock times to UTC nanoseconds."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Final, Literal

from ._exceptions import TradebusError

__all__ = [
    "DEFAULT_ZONES",
    "FORMATS",
    "NS",
    "BadRow",
    "BulkParser",
    "Clock",
    "Columns",
    "Format",
    "Parsed",
    "RowParser",
    "TickImportError",
    "bounded",
    "clock",
    "in_range",
]

Format = Literal["csv", "histdata", "truefx", "mt5"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "histdata", "truefx", "mt5")
#: The zone each format's times are in unless ``--tz`` says otherwise.
DEFAULT_ZONES: Final[dict[Format, str]] = {
    "csv": "UTC",
    "histdata": "-05:00",
    "truefx": "UTC",
    "mt5": "UTC",
}
#: (ts, bid, ask, last, volume); None: a row that is valid but carries no tick yet
#: (an MT5 row before both sides of the book were seen).
Parsed = tuple[int, float, float, float | None, float] | None
RowParser = Callable[[str], Parsed]
#: Many rows' ticks as columns: ts, bid, ask, last (None: no row has a last price),
#: volume.
Columns = tuple[list[int], list[float], list[float], list[float | None] | None, list[float]]
#: Parses many lines at once when each of them is a row with a tick, as its format's
#: :data:`RowParser` parses it (the same values); None when one is not (a bad row, a
#: blank line, or only something unusual): those lines are then parsed one by one.
BulkParser = Callable[[list[str]], Columns | None]
NS: Final = 1_000_000_000
#: The times a tick can carry: nanoseconds since the epoch in a signed 64-bit integer.
_MAX_TS: Final = 2**63 - 1
TS_RANGE: Final = "a time from 1970-01-01 to 2262-04-11 23:47:16 UTC"
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class TickImportError(TradebusError):
    """A file of ticks that cannot be imported (its format, its header, its zone)."""


class BadRow(ValueError):
    """A line that is not a valid tick: which field, which value, and why."""

    def __init__(self, field: str, value: str, why: str) -> None:
        super().__init__(f"{field} {value!r}: {why}")
        self.field = field
        self.value = value
        self.why = why


class Clock:
    """Local wall-clock times of one zone to UTC nanoseconds (cached per date and hour).

    ``zone``: ``UTC``, a fixed offset (``+02:00``, ``-0500``) or an IANA name
    (``Europe/Athens``). In a zone with daylight saving, a repeated local hour is
    taken as its first occurrence and a skipped one as if the clock had not moved.
    """

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._fixed: int | None = None
        self._tz: dt.tzinfo | None = None
        offset = _offset(zone)
        if offset is not None:
            self._fixed = offset
        else:
            try:
                self._tz = zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise TickImportError(
                    f"unknown time zone {zone!r}: give UTC, an offset such as +02:00, or an "
                    "IANA name such as Europe/Athens"
                ) from exc
        self._days: dict[str, int] = {}
        self._offsets: dict[tuple[int, int], int] = {}

    def day(self, y: int, m: int, d: int) -> int:
        """Midnight of a local date, as ns since the epoch (local clock, no offset)."""
        return (dt.date(y, m, d) - _EPOCH.date()).days * 86_400 * NS

    def to_utc(self, local_day_ns: int, hour: int, ns_of_day: int) -> int:
        """UTC ns of a local time: ``local_day_ns`` (from :meth:`day`) + ``ns_of_day``."""
        if self._fixed is not None:
            return local_day_ns + ns_of_day - self._fixed
        key = (local_day_ns, hour)
        offset = self._offsets.get(key)
        if offset is None:
            naive = dt.datetime.fromtimestamp(local_day_ns // NS, dt.UTC).replace(tzinfo=None)
            local = (naive + dt.timedelta(hours=hour)).replace(tzinfo=self._tz)
            delta = local.utcoffset() or dt.timedelta(0)
            offset = int(delta.total_seconds()) * NS
            self._offsets[key] = offset
        return local_day_ns + ns_of_day - offset

    def naive(self, when: dt.datetime) -> int:
        """UTC ns of a datetime (one without tzinfo is in this clock's zone)."""
        if when.tzinfo is None:
            local_day = self.day(when.year, when.month, when.day)
            of_day = (
                when.hour * 3600 + when.minute * 60 + when.second
            ) * NS + when.microsecond * 1000
            return self.to_utc(local_day, when.hour, of_day)
        delta = when - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def clock(zone: str | None, fmt: Format) -> Clock:
    """The clock of ``fmt``'s times: ``zone`` if given, else the format's own."""
    return Clock(zone or DEFAULT_ZONES[fmt])


_OFFSET_RE: Final = re.compile(r"^(?:UTC|GMT|Z)?([+-])(\d{1,2}):?(\d{2})?$")


def _offset(zone: str) -> int | None:
    """A fixed offset in ns (east of UTC positive), or None for a zone name."""
    if zone.upper() in ("UTC", "GMT", "Z"):
        return 0
    match = _OFFSET_RE.match(zone.strip())
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    value = (int(hours) * 3600 + int(minutes or 0) * 60) * NS
    if value > 18 * 3600 * NS:
        raise TickImportError(f"the offset {zone!r} is more than 18 hours: give one such as +02:00")
    return value if sign == "+" else -value


def in_range(field: str, text: str, ts: int) -> int:
    """``ts``, if a tick can carry it.

    :raises BadRow: naming ``field``, its ``text`` and the times allowed.
    """
    if not 0 <= ts <= _MAX_TS:
        raise BadRow(field, text, f"out of range: expected {TS_RANGE}")
    return ts


def bounded(parse: RowParser) -> RowParser:
    """``parse``, refusing a time a tick cannot carry as a bad row."""

    def checked(line: str) -> Parsed:
        parsed = parse(line)
        if parsed is not None:
            in_range("time", line, parsed[0])
        return parsed

    return checked
