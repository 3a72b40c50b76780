"""The file formats of historical ticks ``tradebus import ticks`` reads.

Each format turns one line of text into ``(ts, bid, ask, last, volume)`` (``ts`` in
ns since the Unix epoch, UTC), or raises :class:`BadRow` naming the field and the
value. Local times become UTC through a :class:`Clock` (a fixed offset or an IANA
zone), cached per date and hour: a row costs a few string slices and float parses.

* ``csv``: a header naming the columns like the Tick fields (``ts``/``time``/
  ``timestamp``, ``bid``, ``ask``, optional ``last`` and ``volume``; other columns are
  ignored), separated by ``,``, ``;`` or tabs. A time is an integer or decimal epoch
  (s, ms, us or ns, by its magnitude) or an ISO 8601 time (without an offset: in
  the clock's zone, UTC by default).
* ``histdata``: HistData.com's ASCII ticks, ``YYYYMMDD HHMMSSmmm,bid,ask,volume``, in
  EST without daylight saving (UTC-5 all year).
* ``truefx``: TrueFX's CSV, ``EUR/USD,YYYYMMDD HH:MM:SS.mmm,bid,ask``, in UTC.
* ``mt5``: MetaTrader 5's exported ticks, tab-separated with the header
  ``<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME> <FLAGS>``, in the broker's server time.
  A row carries only what changed: an empty bid or ask is the last one seen.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from itertools import repeat
from operator import add, itemgetter, mul
from typing import Final

from ._import_time import (
    FORMATS,
    NS,
    BadRow,
    BulkParser,
    Clock,
    Columns,
    Format,
    Parsed,
    RowParser,
    TickImportError,
    bounded,
    clock,
    in_range,
)

__all__ = [
    "FORMATS",
    "BadRow",
    "BulkParser",
    "Clock",
    "Columns",
    "Format",
    "Parsed",
    "RowParser",
    "TickImportError",
    "clock",
    "parser_for",
    "sniff",
]

_NS: Final = NS


# ----------------------------------------------------------------------- fields


def _price(field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadRow(field, text, "not a number") from None
    if not 0.0 < value < math.inf:
        raise BadRow(field, text, "a price must be a finite number > 0")
    return value


def _volume(text: str) -> float:
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise BadRow("volume", text, "not a number") from None
    if not 0.0 <= value < math.inf:
        raise BadRow("volume", text, "a volume must be a finite number >= 0")
    return value


def _date(clock_: Clock, cache: dict[str, int], text: str, y: str, m: str, d: str) -> int:
    day = cache.get(text)
    if day is None:
        try:
            day = clock_.day(int(y), int(m), int(d))
        except ValueError:
            raise BadRow("date", text, "not a valid date") from None
        cache[text] = day
    return day


def _time_of_day(field: str, text: str, h: str, mi: str, s: str, frac: str) -> tuple[int, int]:
    """(hour, ns since midnight) of a local time of day."""
    try:
        hour, minute, second = int(h), int(mi), int(s)
        fraction = int(frac.ljust(9, "0")[:9]) if frac else 0
    except ValueError:
        raise BadRow(field, text, "not a time of day (HH:MM:SS.mmm)") from None
    if hour > 23 or minute > 59 or second > 60:
        raise BadRow(field, text, "not a time of day (HH:MM:SS.mmm)")
    return hour, (hour * 3600 + minute * 60 + second) * _NS + fraction


def _in_minute(hour: int, minute: str, of_day: int) -> int:
    """The ns of a time of day (``of_day``, from :func:`_time_of_day`) since the start
    of its minute (a leap second's 60 included)."""
    return of_day - (hour * 3600 + int(minute) * 60) * _NS


# ---------------------------------------------------------------------- formats


#: How many minutes' UTC times a parser keeps (a file's rows come in time order).
_CACHED_MINUTES: Final = 100_000
_INF: Final = math.inf


def _remember(cache: dict[str, int], key: str, value: int) -> None:
    if len(cache) >= _CACHED_MINUTES:
        cache.clear()
    cache[key] = value


# ------------------------------------------------------------------ many rows
#
# A file's rows parsed many at once: each step (split, slice, int, float, a check) is
# one call mapped over every row, in C. The checks are those of the row parsers' fast
# paths, so that the values are theirs; any row that is not such a plain one makes
# the whole call give up (None), and its lines are parsed one by one, which names the
# bad field.

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


def _histdata_many(minutes: dict[str, int], minute: Callable[[str], int]) -> BulkParser:
    """The bulk of :func:`_histdata`: its cache of minutes, and what works one out."""

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


def _truefx_many(minutes: dict[str, int], minute: Callable[[str], int], wanted: str) -> BulkParser:
    """The bulk of :func:`_truefx`: a cache of minutes (``YYYYMMDD HH:MM:``), what works
    one out, and the pair the import is of (letters and digits)."""

    def many(lines: list[str]) -> Columns | None:
        if not lines:
            return None
        columns = _fields(lines, 4)
        if columns is None:
            return None
        pairs, stamps, bids_text, asks_text = columns
        n = len(lines)
        if pairs.count(pairs[0]) != n or _pair(pairs[0]) != wanted:
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


def _histdata(clock_: Clock) -> tuple[RowParser, BulkParser]:
    days: dict[str, int] = {}
    minutes: dict[str, int] = {}  # "YYYYMMDD HHMM" -> UTC ns

    def slow(line: str) -> Parsed:
        parts = line.split(",")
        if len(parts) != 4:
            raise BadRow("row", line, "expected 4 fields: YYYYMMDD HHMMSSmmm,bid,ask,volume")
        stamp = parts[0]
        if len(stamp) != 18 or stamp[8] != " " or not stamp[15:].isdigit():
            raise BadRow("time", stamp, "expected YYYYMMDD HHMMSSmmm")
        date = stamp[:8]
        day = _date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = _time_of_day("time", stamp, stamp[9:11], stamp[11:13], stamp[13:15], "")
        ts = clock_.to_utc(day, hour, of_day) + int(stamp[15:]) * 1_000_000
        tick = ts, _price("bid", parts[1]), _price("ask", parts[2]), None, _volume(parts[3])
        _remember(minutes, stamp[:13], ts - int(stamp[13:]) * 1_000_000)
        return tick

    def minute(key: str) -> int:
        """The UTC ns of the minute ``YYYYMMDD HHMM`` (cached as :func:`slow` caches it).

        :raises BadRow: if it is not one.
        """
        if len(key) != 13 or key[8] != " ":
            raise BadRow("time", key, "expected YYYYMMDD HHMM")
        date = key[:8]
        day = _date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = _time_of_day("time", key, key[9:11], key[11:13], "0", "")
        base = clock_.to_utc(day, hour, of_day)
        _remember(minutes, key, base)
        return base

    def parse(line: str) -> Parsed:
        # The common case in a few operations; anything unusual goes the slow way,
        # which names the field. "SSmmm" read as one number is ms into the minute.
        try:
            stamp, b, a, v = line.split(",")
            millis = stamp[13:]
            in_minute = int(millis)
            ts = minutes[stamp[:13]] + in_minute * 1_000_000
            bid, ask = float(b), float(a)
            volume = float(v) if v else 0.0
            if (
                in_minute < 60_000
                and len(millis) == 5
                and millis.isdigit()
                and 0.0 < bid < _INF
                and 0.0 < ask < _INF
                and 0.0 <= volume < _INF
            ):
                return ts, bid, ask, None, volume
        except (ValueError, KeyError):
            pass
        return slow(line)

    return parse, _histdata_many(minutes, minute)


def _truefx(clock_: Clock, symbol: str) -> tuple[RowParser, BulkParser]:
    days: dict[str, int] = {}
    minutes: dict[str, int] = {}  # "YYYYMMDD HH:MM" -> UTC ns
    wanted = _pair(symbol)
    seen = [""]  # the pair as this file spells it, once it matched

    def slow(line: str) -> Parsed:
        parts = line.split(",")
        if len(parts) < 4 or any(p.strip() for p in parts[4:]):  # a trailing comma: fine
            raise BadRow("row", line, "expected 4 fields: PAIR,YYYYMMDD HH:MM:SS.mmm,bid,ask")
        if _pair(parts[0]) != wanted:
            raise BadRow("pair", parts[0], f"this import is of {symbol}")
        stamp = parts[1]
        if len(stamp) < 17 or stamp[8] != " " or stamp[11] != ":" or stamp[14] != ":":
            raise BadRow("time", stamp, "expected YYYYMMDD HH:MM:SS.mmm")
        date = stamp[:8]
        day = _date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = _time_of_day(
            "time", stamp, stamp[9:11], stamp[12:14], stamp[15:17], stamp[18:]
        )
        ts = clock_.to_utc(day, hour, of_day)
        tick = ts, _price("bid", parts[2]), _price("ask", parts[3]), None, 0.0
        seen[0] = parts[0]
        _remember(minutes, stamp[:14], ts - _in_minute(hour, stamp[12:14], of_day))
        return tick

    by_minute: dict[str, int] = {}  # "YYYYMMDD HH:MM:" -> UTC ns: the bulk's

    def minute(key: str) -> int:
        """The UTC ns of the minute ``YYYYMMDD HH:MM:`` (as :func:`slow` works it out).

        :raises BadRow: if it is not one.
        """
        if len(key) != 15 or key[8] != " " or key[11] != ":" or key[14] != ":":
            raise BadRow("time", key, "expected YYYYMMDD HH:MM:")
        date = key[:8]
        day = _date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = _time_of_day("time", key, key[9:11], key[12:14], "0", "")
        base = clock_.to_utc(day, hour, of_day)
        _remember(by_minute, key, base)
        return base

    def parse(line: str) -> Parsed:
        try:
            pair, stamp, b, a = line.split(",")
            secs, millis = stamp[15:17], stamp[18:]
            in_minute = int(secs) * 1000 + int(millis)
            ts = minutes[stamp[:14]] + in_minute * 1_000_000
            bid, ask = float(b), float(a)
            if (
                pair == seen[0]
                and stamp[14] == ":"
                and stamp[17] == "."
                and len(millis) == 3
                and millis.isdigit()
                and secs.isdigit()
                and in_minute < 60_000
                and 0.0 < bid < _INF
                and 0.0 < ask < _INF
            ):
                return ts, bid, ask, None, 0.0
        except (ValueError, KeyError, IndexError):
            pass
        return slow(line)

    return parse, _truefx_many(by_minute, minute, wanted)


def _pair(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _mt5(clock_: Clock, width: int) -> RowParser:
    days: dict[str, int] = {}
    minutes: dict[str, int] = {}  # "YYYY.MM.DDHH:MM" -> UTC ns
    book: list[float | None] = [None, None]  # the last bid and ask seen

    def when(date: str, stamp: str) -> int:
        secs, millis = stamp[6:8], stamp[9:]
        minute = minutes.get(date + stamp[:5])
        if (
            minute is not None
            and len(millis) == 3
            and stamp[5] == ":"
            and stamp[8] == "."
            and millis.isdigit()
            and secs.isdigit()
            and int(secs) < 60
        ):
            return minute + (int(secs) * 1000 + int(millis)) * 1_000_000
        if len(date) != 10 or date[4] != "." or date[7] != ".":
            raise BadRow("date", date, "expected YYYY.MM.DD")
        day = _date(clock_, days, date, date[:4], date[5:7], date[8:10])
        if len(stamp) < 8 or stamp[2] != ":" or stamp[5] != ":":
            raise BadRow("time", stamp, "expected HH:MM:SS.mmm")
        hour, of_day = _time_of_day("time", stamp, stamp[:2], stamp[3:5], stamp[6:8], stamp[9:])
        ts = clock_.to_utc(day, hour, of_day)
        _remember(minutes, date + stamp[:5], ts - _in_minute(hour, stamp[3:5], of_day))
        return ts

    def parse(line: str) -> Parsed:
        parts = line.split("\t")
        if len(parts) < 4 or any(p.strip() for p in parts[width:]):  # more than the header
            raise BadRow(
                "row", line, f"expected <DATE> <TIME> <BID> <ASK> ... (at most {width} fields, "
                "as in the header) separated by tabs"
            )  # fmt: skip
        ts = when(parts[0], parts[1])
        bid = _price("bid", parts[2]) if parts[2] else book[0]
        ask = _price("ask", parts[3]) if parts[3] else book[1]
        last = _price("last", parts[4]) if len(parts) > 4 and parts[4] else None
        volume = _volume(parts[5]) if len(parts) > 5 else 0.0
        book[0], book[1] = bid, ask
        if bid is None or ask is None:
            return None  # one side of the book not seen yet
        if not parts[2] and not parts[3] and last is None:
            return None  # a row of flags or volume only: no new price
        return ts, bid, ask, last, volume

    return parse


_CSV_TIME: Final = ("ts", "time", "timestamp", "datetime")
_ISO_FRACTION: Final = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.(\d+)")


def _csv(clock_: Clock, header: str) -> RowParser:
    separator = _separator(header)
    names = [n.strip().strip("<>[]\"'").lower() for n in header.split(separator)]
    where = {name: i for i, name in reversed(list(enumerate(names)))}
    time_col = next((where[n] for n in _CSV_TIME if n in where), None)
    missing = [n for n in ("bid", "ask") if n not in where]
    if time_col is None:
        missing.insert(0, "ts (or time)")
    if missing:
        raise TickImportError(
            f"the CSV header {header.strip()!r} has no column {', '.join(missing)}: name the "
            "columns ts (or time), bid, ask and optionally last and volume"
        )
    assert time_col is not None
    bid_col, ask_col = where["bid"], where["ask"]
    last_col, volume_col = where.get("last"), where.get("volume")
    named = max(i for i, name in enumerate(names) if name) + 1  # unnamed ones trail
    minutes: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" of times without an offset -> UTC ns

    def when(text: str) -> int:
        # "YYYY-MM-DDTHH:MM:SS[.fff]" of a minute seen before: its seconds only.
        seconds, fraction = text[17:19], text[20:]
        minute = minutes.get(text[:16])
        if (
            minute is not None
            and seconds.isdigit()
            and (len(text) == 19 or (text[19] == "." and fraction.isdigit()))
        ):
            return minute + int(seconds) * NS + (int(fraction.ljust(9, "0")[:9]) if fraction else 0)
        ts = _csv_time(clock_, text)
        if (
            len(text) >= 19
            and text[13] == ":"
            and text[16] == ":"
            and seconds.isdigit()
            and (len(text) == 19 or (text[19] == "." and fraction.isdigit()))
        ):
            in_minute = int(seconds) * NS + (int(fraction.ljust(9, "0")[:9]) if fraction else 0)
            _remember(minutes, text[:16], ts - in_minute)
        return ts

    def parse(line: str) -> Parsed:
        parts = line.split(separator)
        if len(parts) != len(names) and (
            len(parts) < named or any(p.strip() for p in parts[named:])
        ):  # too few, or too many (but for empty ones a trailing separator leaves)
            raise BadRow(
                "row", line, f"expected {len(names)} fields as in the header, not {len(parts)}"
            )
        ts = when(parts[time_col].strip().strip("\"'"))
        last = None
        if last_col is not None and parts[last_col].strip():
            last = _price("last", parts[last_col].strip())
        volume = _volume(parts[volume_col].strip()) if volume_col is not None else 0.0
        return ts, _price("bid", parts[bid_col]), _price("ask", parts[ask_col]), last, volume

    return parse


def _separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda sep: counts[sep])


def _csv_time(clock_: Clock, text: str) -> int:
    if not text:
        raise BadRow("ts", text, "empty")
    if text[0].isdigit() and text.replace(".", "", 1).isdigit():
        whole, _, fraction = text.partition(".")
        digits = len(whole)
        # By magnitude: seconds have 10 digits now, ms 13, us 16, ns 19.
        scale = 1 if digits > 17 else 1_000 if digits > 14 else 1_000_000 if digits > 11 else _NS
        value = int(whole) * scale
        if fraction and scale > 1:
            value += int(fraction.ljust(9, "0")[:9]) * scale // _NS
        return in_range("ts", text, value)
    try:
        when = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise BadRow("ts", text, "not an epoch number nor an ISO 8601 time") from None
    ts = clock_.naive(when)
    exact = _ISO_FRACTION.match(text)
    if exact is not None:  # datetime keeps microseconds: the digits beyond, kept
        ts += int(exact.group(1).ljust(9, "0")[:9]) - ts % NS
    return in_range("ts", text, ts)


# ----------------------------------------------------------------------- sniff

_HISTDATA_RE: Final = re.compile(r"^\d{8} \d{9},")
_TRUEFX_RE: Final = re.compile(r"^[A-Za-z0-9]{2,10}/[A-Za-z0-9]{2,10},\d{8} \d\d:\d\d:\d\d")
_MT5_HEADER: Final = "<DATE>"


def sniff(first_line: str) -> Format:
    """The format of a file, from its first line.

    :raises TickImportError: if no format matches (the line is shown).
    """
    line = first_line.lstrip("\ufeff").strip()
    if line.upper().startswith(_MT5_HEADER):
        return "mt5"
    if _TRUEFX_RE.match(line):
        return "truefx"
    if _HISTDATA_RE.match(line):
        return "histdata"
    names = {n.strip().strip("<>[]\"'").lower() for n in re.split(r"[,;\t]", line)}
    if {"bid", "ask"} <= names and names & set(_CSV_TIME):
        return "csv"
    raise TickImportError(
        f"cannot tell the format of the file from its first line {line[:80]!r}: give "
        f"--format ({', '.join(FORMATS)})"
    )


def parser_for(
    fmt: Format, clock_: Clock, symbol: str, first_line: str
) -> tuple[RowParser, BulkParser | None, bool]:
    """The row parser of ``fmt``, its bulk parser (None: rows are parsed one by one),
    and whether the first line is a header (not a row).

    Every parser refuses a time a tick cannot carry (before 1970, after 2262) as a
    bad row.
    """
    first = first_line.lstrip("\ufeff")
    if fmt == "csv":
        return bounded(_csv(clock_, first)), None, True
    if fmt == "histdata":
        parse, many = _histdata(clock_)
        return bounded(parse), many, False
    if fmt == "truefx":
        parse, many = _truefx(clock_, symbol)
        return bounded(parse), many, False
    if not first.upper().startswith(_MT5_HEADER):
        raise TickImportError(
            f"an MT5 tick export starts with the header <DATE>\t<TIME>\t<BID>\t<ASK>..., "
            f"this file with {first.strip()[:80]!r}"
        )
    return bounded(_mt5(clock_, max(4, len(first.rstrip().split("\t"))))), None, True
