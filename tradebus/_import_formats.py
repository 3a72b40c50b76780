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

import re
from typing import Final

from ._import_csv import CSV_TIME, csv_parser
from ._import_time import (
    FORMATS,
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
)
from ._import_vendors import histdata_parsers, mt5_parser, truefx_parsers

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
    if {"bid", "ask"} <= names and names & set(CSV_TIME):
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
        return bounded(csv_parser(clock_, first)), None, True
    if fmt == "histdata":
        parse, many = histdata_parsers(clock_)
        return bounded(parse), many, False
    if fmt == "truefx":
        parse, many = truefx_parsers(clock_, symbol)
        return bounded(parse), many, False
    if not first.upper().startswith(_MT5_HEADER):
        raise TickImportError(
            f"an MT5 tick export starts with the header <DATE>\t<TIME>\t<BID>\t<ASK>..., "
            f"this file with {first.strip()[:80]!r}"
        )
    return bounded(mt5_parser(clock_, max(4, len(first.rstrip().split("\t"))))), None, True
