"""The row parser of a CSV file of ticks whose header names the columns (``ts`` or
``time``, ``bid``, ``ask``, optional ``last`` and ``volume``), and its times: epoch
numbers (s, ms, us or ns, by magnitude) or ISO 8601 (see :mod:`tradebus._import_formats`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from ._import_fields import parse_price, parse_volume, remember
from ._import_time import NS, BadRow, Clock, Parsed, RowParser, TickImportError, in_range

__all__ = ["CSV_TIME", "csv_parser"]

_NS: Final = NS

CSV_TIME: Final = ("ts", "time", "timestamp", "datetime")
_ISO_FRACTION: Final = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.(\d+)")


def csv_parser(clock_: Clock, header: str) -> RowParser:
    separator = _separator(header)
    names = [n.strip().strip("<>[]\"'").lower() for n in header.split(separator)]
    where = {name: i for i, name in reversed(list(enumerate(names)))}
    time_col = next((where[n] for n in CSV_TIME if n in where), None)
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
            remember(minutes, text[:16], ts - in_minute)
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
            last = parse_price("last", parts[last_col].strip())
        volume = parse_volume(parts[volume_col].strip()) if volume_col is not None else 0.0
        return (
            ts,
            parse_price("bid", parts[bid_col]),
            parse_price("ask", parts[ask_col]),
            last,
            volume,
        )

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
