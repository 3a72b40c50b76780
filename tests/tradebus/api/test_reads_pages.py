"""A page's parts on their own: the time texts and the cursors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.exceptions import ValidationException

from tradebus.api._pages import MAX_INT64, Cursors, iso, parse_time


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_INT64))
def test_a_time_text_reads_back_to_the_same_nanosecond(ns: int) -> None:
    text = iso(ns)
    assert text.endswith("Z")
    assert parse_time("start", text) == ns
    assert parse_time("start", str(ns)) == ns


def test_times_with_an_offset_or_none_are_utc() -> None:
    assert parse_time("since", "1970-01-01T01:00:00+01:00") == 0
    assert parse_time("since", "1970-01-01T00:00:01") == 1_000_000_000
    assert parse_time("since", "1970-01-01T00:00:00.5Z") == 500_000_000


@pytest.mark.parametrize(
    "text", ["1969-12-31T23:59:59Z", "2262-04-12T00:00:00Z", "9223372036854775808", "noon", ""]
)
def test_times_out_of_range_or_not_times_are_refused(text: str) -> None:
    with pytest.raises(ValidationException, match="query parameter 'since'"):
        parse_time("since", text)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_INT64), st.text(max_size=20))
def test_a_cursor_reads_back_only_in_its_own_scope(ts: int, row_id: str) -> None:
    cursors = Cursors(b"k" * 32)
    cursor = cursors.make("ticks|EURUSD", (ts, row_id))
    assert cursors.read("ticks|EURUSD", cursor, (int, str)) == (ts, row_id)
    with pytest.raises(ValidationException, match="not one this API gave"):
        cursors.read("ticks|GBPUSD", cursor, (int, str))
    with pytest.raises(ValidationException, match="not one this API gave"):
        Cursors(b"j" * 32).read("ticks|EURUSD", cursor, (int, str))  # another server's
    with pytest.raises(ValidationException, match="not one this API gave"):
        cursors.read("ticks|EURUSD", cursor, (int, int))  # another key's shape
