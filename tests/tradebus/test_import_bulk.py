"""Rows parsed many at once give what they give one by one, or nothing (then they are
parsed one by one): random files, valid and damaged, of each format with a bulk."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable

import pytest

from tradebus._import_formats import BadRow, Columns, Format, clock, parser_for

EST = dt.timezone(dt.timedelta(hours=-5))
#: What a damaged row may get instead of one of its characters.
DAMAGE = [",", " ", "", "0", "9", "6", ".", "-", "+", "_", "e", "x", "\t", "nan", "inf", "٣"]


def _histdata_line(when: dt.datetime, bid: float) -> str:
    stamp = when.strftime("%Y%m%d %H%M%S") + f"{when.microsecond // 1000:03d}"
    return f"{stamp},{bid:.6f},{bid + 0.0001:.6f},0"


def _truefx_line(when: dt.datetime, bid: float) -> str:
    stamp = when.strftime("%Y%m%d %H:%M:%S") + f".{when.microsecond // 1000:03d}"
    return f"EUR/USD,{stamp},{bid:.5f},{bid + 0.0001:.5f}"


def _lines(make: Callable[[dt.datetime, float], str], rng: random.Random, n: int) -> list[str]:
    when = dt.datetime(2024, 3, 10, 23, 58, 30, tzinfo=EST)
    lines = []
    for _ in range(n):
        when += dt.timedelta(milliseconds=rng.choice([0, 1, 250, 999, 7_000, 61_000]))
        lines.append(make(when, 1.1 + rng.random() / 10))
    return lines


def _damaged(lines: list[str], rng: random.Random, count: int) -> list[str]:
    lines = list(lines)
    for _ in range(count):
        i = rng.randrange(len(lines))
        line = lines[i]
        kind = rng.random()
        if kind < 0.6 and line:
            at = rng.randrange(len(line))
            lines[i] = line[:at] + rng.choice(DAMAGE) + line[at + 1 :]
        elif kind < 0.7:
            lines[i] = line.replace("59.", "60.").replace("5959", "5960")  # a leap second
        elif kind < 0.8:
            lines[i] = line + ","
        elif kind < 0.9 and i + 1 < len(lines):  # a field moved to the next line
            head, _, tail = line.rpartition(",")
            lines[i], lines[i + 1] = head, tail + "," + lines[i + 1]
        else:
            lines[i] = rng.choice(["", " ", "\t"])
    return lines


def _one_by_one(fmt: Format, zone: str | None, lines: list[str]) -> Columns | None:
    parse, _, _ = parser_for(fmt, clock(zone, fmt), "EURUSD", lines[0])
    columns: Columns = ([], [], [], None, [])
    for line in lines:
        try:
            parsed = parse(line)
        except BadRow:
            return None
        assert parsed is not None
        ts, bid, ask, last, volume = parsed
        assert last is None
        columns[0].append(ts)
        columns[1].append(bid)
        columns[2].append(ask)
        columns[4].append(volume)
    return columns


@pytest.mark.parametrize(("fmt", "make"), [("histdata", _histdata_line), ("truefx", _truefx_line)])
@pytest.mark.parametrize("zone", [None, "Europe/Athens"])  # a change of offset in there
@pytest.mark.parametrize("seed", range(4))
def test_rows_parsed_at_once_are_those_parsed_one_by_one(
    fmt: Format, make: Callable[[dt.datetime, float], str], zone: str | None, seed: int
) -> None:
    rng = random.Random(seed)
    lines = _damaged(_lines(make, rng, 3_000), rng, 25)
    # One parser for all the calls (its caches filled by each), as an import uses it.
    parse, bulk, _ = parser_for(fmt, clock(zone, fmt), "EURUSD", lines[0])
    assert bulk is not None
    taken = refused = 0
    for _ in range(300):
        start = rng.randrange(len(lines))
        window = lines[start : start + rng.choice([1, 2, 7, 50, 400])]
        expected = _one_by_one(fmt, zone, window)
        got = bulk(window)
        if got is None:
            refused += 1
        else:
            taken += 1
            assert got == expected
        for line in window[: rng.randrange(3)]:  # and some one by one, sharing the caches
            with contextlib.suppress(BadRow):
                parse(line)
    assert taken > 30  # both kinds were tried
    assert refused > 30


def test_a_time_of_seconds_and_milliseconds_is_exact_read_as_one_float() -> None:
    for ms in range(60_000):
        assert round(float(f"{ms // 1000:02d}.{ms % 1000:03d}") * 1e9) == ms * 1_000_000


@pytest.mark.parametrize(
    "minutes",
    [
        ["19700101 0000", "19700101 0001"],  # the first a tick can carry
        ["19691231 2358", "19691231 2359", "19700101 0000"],  # before it: bad rows
        ["22620411 2346", "22620411 2347"],  # the last: up to 23:47:16.854775807
    ],
)
def test_rows_at_the_ends_of_the_times_a_tick_can_carry_are_parsed_as_one_by_one(
    minutes: list[str],
) -> None:
    lines = [f"{m}{s:02d}{ms:03d},1.1,1.2,0" for m in minutes for s in (0, 16, 17, 59)
             for ms in (0, 854, 855)]  # fmt: skip
    for start in range(len(lines)):
        for end in range(start + 1, len(lines) + 1):
            window = lines[start:end]
            _, bulk, _ = parser_for("histdata", clock("UTC", "histdata"), "EURUSD", window[0])
            assert bulk is not None
            got = bulk(window)
            assert got is None or got == _one_by_one("histdata", "UTC", window)
    _, bulk, _ = parser_for("histdata", clock("UTC", "histdata"), "EURUSD", lines[0])
    assert bulk is not None
    if minutes[0].startswith("1970"):
        assert bulk(lines) is not None  # the first minutes: taken together
