"""The row parsers of the formats: times that need care."""

from __future__ import annotations

import datetime as dt

import pytest

from tradebus._import_formats import Format, clock, parser_for


@pytest.mark.parametrize(
    ("fmt", "first", "leap", "after"),
    [
        ("truefx", "EUR/USD,20161231 23:59:00.000,1.1,1.2", "EUR/USD,20161231 23:58:60.500,1.1,1.2",
         "EUR/USD,20161231 23:58:10.000,1.1,1.2"),
        ("histdata", "20161231 235900000,1.1,1.2,0", "20161231 235860500,1.1,1.2,0",
         "20161231 235810000,1.1,1.2,0"),
        ("mt5", "<DATE>\t<TIME>\t<BID>\t<ASK>", "2016.12.31\t23:58:60.500\t1.1\t1.2",
         "2016.12.31\t23:58:10.000\t1.1\t1.2"),
    ],
)  # fmt: skip
def test_a_leap_second_first_in_its_minute_leaves_the_minute_where_it_is(
    fmt: Format, first: str, leap: str, after: str
) -> None:
    parse, _, _ = parser_for(fmt, clock("UTC", fmt), "EURUSD", first)
    leap_parsed, after_parsed = parse(leap), parse(after)
    assert leap_parsed is not None
    assert after_parsed is not None
    minute = int(dt.datetime(2016, 12, 31, 23, 58, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    assert leap_parsed[0] == minute + 60_500_000_000
    assert after_parsed[0] == minute + 10_000_000_000  # in its own minute, not the next
