"""The row parsers of the tick vendors' formats: HistData.com's ASCII ticks, TrueFX's
CSV and MetaTrader 5's exported ticks (see :mod:`tradebus._import_formats`).

Each keeps a cache of the UTC times of the minutes it has seen: a row of a minute seen
before costs a few string slices and float parses; anything unusual goes the slow way,
which names the bad field.
"""

from __future__ import annotations

import math
from typing import Final

from ._import_bulk import histdata_many, truefx_many
from ._import_fields import (
    ns_in_minute,
    pair_name,
    parse_date,
    parse_price,
    parse_time_of_day,
    parse_volume,
    remember,
)
from ._import_time import BadRow, BulkParser, Clock, Parsed, RowParser

__all__ = ["histdata_parsers", "mt5_parser", "truefx_parsers"]

_INF: Final = math.inf


def histdata_parsers(clock_: Clock) -> tuple[RowParser, BulkParser]:
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
        day = parse_date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = parse_time_of_day("time", stamp, stamp[9:11], stamp[11:13], stamp[13:15], "")
        ts = clock_.to_utc(day, hour, of_day) + int(stamp[15:]) * 1_000_000
        tick = (
            ts,
            parse_price("bid", parts[1]),
            parse_price("ask", parts[2]),
            None,
            parse_volume(parts[3]),
        )
        remember(minutes, stamp[:13], ts - int(stamp[13:]) * 1_000_000)
        return tick

    def minute(key: str) -> int:
        """The UTC ns of the minute ``YYYYMMDD HHMM`` (cached as :func:`slow` caches it).

        :raises BadRow: if it is not one.
        """
        if len(key) != 13 or key[8] != " ":
            raise BadRow("time", key, "expected YYYYMMDD HHMM")
        date = key[:8]
        day = parse_date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = parse_time_of_day("time", key, key[9:11], key[11:13], "0", "")
        base = clock_.to_utc(day, hour, of_day)
        remember(minutes, key, base)
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

    return parse, histdata_many(minutes, minute)


def truefx_parsers(clock_: Clock, symbol: str) -> tuple[RowParser, BulkParser]:
    days: dict[str, int] = {}
    minutes: dict[str, int] = {}  # "YYYYMMDD HH:MM" -> UTC ns
    wanted = pair_name(symbol)
    seen = [""]  # the pair as this file spells it, once it matched

    def slow(line: str) -> Parsed:
        parts = line.split(",")
        if len(parts) < 4 or any(p.strip() for p in parts[4:]):  # a trailing comma: fine
            raise BadRow("row", line, "expected 4 fields: PAIR,YYYYMMDD HH:MM:SS.mmm,bid,ask")
        if pair_name(parts[0]) != wanted:
            raise BadRow("pair", parts[0], f"this import is of {symbol}")
        stamp = parts[1]
        if len(stamp) < 17 or stamp[8] != " " or stamp[11] != ":" or stamp[14] != ":":
            raise BadRow("time", stamp, "expected YYYYMMDD HH:MM:SS.mmm")
        date = stamp[:8]
        day = parse_date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = parse_time_of_day(
            "time", stamp, stamp[9:11], stamp[12:14], stamp[15:17], stamp[18:]
        )
        ts = clock_.to_utc(day, hour, of_day)
        tick = ts, parse_price("bid", parts[2]), parse_price("ask", parts[3]), None, 0.0
        seen[0] = parts[0]
        remember(minutes, stamp[:14], ts - ns_in_minute(hour, stamp[12:14], of_day))
        return tick

    by_minute: dict[str, int] = {}  # "YYYYMMDD HH:MM:" -> UTC ns: the bulk's

    def minute(key: str) -> int:
        """The UTC ns of the minute ``YYYYMMDD HH:MM:`` (as :func:`slow` works it out).

        :raises BadRow: if it is not one.
        """
        if len(key) != 15 or key[8] != " " or key[11] != ":" or key[14] != ":":
            raise BadRow("time", key, "expected YYYYMMDD HH:MM:")
        date = key[:8]
        day = parse_date(clock_, days, date, date[:4], date[4:6], date[6:8])
        hour, of_day = parse_time_of_day("time", key, key[9:11], key[12:14], "0", "")
        base = clock_.to_utc(day, hour, of_day)
        remember(by_minute, key, base)
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

    return parse, truefx_many(by_minute, minute, wanted)


def mt5_parser(clock_: Clock, width: int) -> RowParser:
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
        day = parse_date(clock_, days, date, date[:4], date[5:7], date[8:10])
        if len(stamp) < 8 or stamp[2] != ":" or stamp[5] != ":":
            raise BadRow("time", stamp, "expected HH:MM:SS.mmm")
        hour, of_day = parse_time_of_day(
            "time", stamp, stamp[:2], stamp[3:5], stamp[6:8], stamp[9:]
        )
        ts = clock_.to_utc(day, hour, of_day)
        remember(minutes, date + stamp[:5], ts - ns_in_minute(hour, stamp[3:5], of_day))
        return ts

    def parse(line: str) -> Parsed:
        parts = line.split("\t")
        if len(parts) < 4 or any(p.strip() for p in parts[width:]):  # more than the header
            raise BadRow(
                "row", line, f"expected <DATE> <TIME> <BID> <ASK> ... (at most {width} fields, "
                "as in the header) separated by tabs"
            )  # fmt: skip
        ts = when(parts[0], parts[1])
        bid = parse_price("bid", parts[2]) if parts[2] else book[0]
        ask = parse_price("ask", parts[3]) if parts[3] else book[1]
        last = parse_price("last", parts[4]) if len(parts) > 4 and parts[4] else None
        volume = parse_volume(parts[5]) if len(parts) > 5 else 0.0
        book[0], book[1] = bid, ask
        if bid is None or ask is None:
            return None  # one side of the book not seen yet
        if not parts[2] and not parts[3] and last is None:
            return None  # a row of flags or volume only: no new price
        return ts, bid, ask, last, volume

    return parse
