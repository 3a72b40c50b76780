"""The candle engine against pandas, on long random-walk streams (no database)."""

from __future__ import annotations

import itertools
import math
import random
import time

import msgspec
import pytest

from schemas import Candle, Tick, Timeframe, decode, encode
from tradebus import check_candle_options
from tradebus._candles_engine import CandleEngine
from tradebus._candles_options import DEFAULT_TIMEFRAMES, CandlePrice, price_getter
from writers import InvalidOption

from ._candle_oracle import MINUTE, NS, Bars, oracle, random_ticks


def _engine_bars(
    ticks: list[Tick], timeframes: tuple[Timeframe, ...], price: CandlePrice
) -> tuple[Bars, list[Candle]]:
    engine = CandleEngine(timeframes, time.time_ns)
    get = price_getter(price)
    for tick in ticks:
        p = get(tick)
        if p is not None:
            engine.add(tick.symbol, tick.ts, p, tick.volume)
    assert engine.late == []  # in timestamp order: nothing is late
    engine.close_all()
    bars: Bars = {}
    for c in engine.finals:
        key = (c.symbol, c.timeframe, c.ts_open)
        assert key not in bars  # each bar closes once
        bars[key] = (c.open, c.high, c.low, c.close, c.volume, c.tick_count)
    return bars, engine.finals


def _assert_same(bars: Bars, expected: Bars) -> None:
    assert bars.keys() == expected.keys()
    for key, (o, h, low, c, v, n) in expected.items():
        got = bars[key]
        assert got[:4] == (o, h, low, c), key
        assert got[5] == n, key
        assert math.isclose(got[4], v, rel_tol=1e-12, abs_tol=1e-9), key


@pytest.mark.parametrize("price", ["bid", "ask", "mid", "last"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_engine_makes_the_bars_pandas_makes(seed: int, price: CandlePrice) -> None:
    ticks = random_ticks(seed, 30_000, symbols=("EURUSD", "BTCUSDT", "XAUUSD"))
    timeframes, _ = check_candle_options(("M1", "M5", "M15", "M30", "H1", "H4", "D1"))
    bars, finals = _engine_bars(ticks, timeframes, price)
    _assert_same(bars, oracle(ticks, timeframes, price))
    # Every bar is labelled by its open time, aligned to the epoch, with its ticks in it.
    for c in finals:
        length = {"M1": 1, "M5": 5, "M15": 15, "M30": 30, "H1": 60, "H4": 240, "D1": 1440}
        assert c.ts_open % (length[c.timeframe] * MINUTE) == 0
        assert c.first_tick_ts is not None
        assert c.last_tick_ts is not None
        assert (
            c.ts_open
            <= c.first_tick_ts
            <= c.last_tick_ts
            < c.ts_open + length[c.timeframe] * MINUTE
        )
        assert (c.complete, c.revision) == (True, 0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ticks_in_order_taken_a_bar_at_a_time_make_what_they_make_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    ticks = random_ticks(seed, 4_000)
    for _ in range(300):  # some out of order: late for their bar, or within it
        i = rng.randrange(len(ticks) - 30)
        j = i + rng.randrange(1, 30)
        ticks[i], ticks[j] = ticks[j], ticks[i]
    stamps = [itertools.count(), itertools.count()]
    one, many = (CandleEngine(DEFAULT_TIMEFRAMES, stamps[k].__next__) for k in range(2))
    now = time.time_ns()
    i = in_order = 0
    while i < len(ticks):
        batch = ticks[i : i + rng.choice([1, 3, 16, 40, 100, 400])]
        i += len(batch)
        if rng.random() < 0.7:
            batch.sort(key=lambda t: t.ts)
        for tick in batch:
            one.add(tick.symbol, tick.ts, tick.bid, tick.volume)
        if all(a.ts <= b.ts for a, b in itertools.pairwise(batch)):
            in_order += 1
            many.add_in_order(
                "EURUSD", [t.ts for t in batch], [t.bid for t in batch], [t.volume for t in batch]
            )
        else:
            for tick in batch:
                many.add(tick.symbol, tick.ts, tick.bid, tick.volume)
        if rng.random() < 0.05:  # the wall clock closes the quiet bars (of the past)
            for _ in range(2):
                one.close_ended(now, 0)
                many.close_ended(now, 0)
        assert many.finals == one.finals
        assert many.late == one.late
    assert in_order > 15
    assert one.late  # some were
    assert many.in_progress(changed_only=False) == one.in_progress(changed_only=False)


def test_a_tick_on_a_boundary_opens_the_next_bar_and_one_ns_before_closes_the_last() -> None:
    t0 = 1_700_006_400 * NS  # a multiple of a day
    ticks = [
        Tick(symbol="EURUSD", bid=1.0, ask=1.1, ts=t0),
        Tick(symbol="EURUSD", bid=1.2, ask=1.3, ts=t0 + MINUTE - 1),
        Tick(symbol="EURUSD", bid=0.9, ask=1.0, ts=t0 + MINUTE),
    ]
    bars, _ = _engine_bars(ticks, ("M1",), "bid")
    assert bars == {
        ("EURUSD", "M1", t0): (1.0, 1.2, 1.0, 1.2, 0.0, 2),
        ("EURUSD", "M1", t0 + MINUTE): (0.9, 0.9, 0.9, 0.9, 0.0, 1),
    }


def test_a_bar_of_the_past_opened_since_the_last_check_is_not_closed_by_the_wall_clock() -> None:
    # Imported ticks fill bars of the past faster than the wall clock checks come: a
    # bar opened since the last check is not quiet, even with as many ticks as the
    # bar open then had. Closing it would make every later tick of its longer bars
    # late (a revision each).
    engine = CandleEngine(("M1", "H1"), time.time_ns)
    t0 = 1_700_006_400 * NS  # long ended
    now = time.time_ns()
    for i in range(3):
        engine.add("EURUSD", t0 + i * NS, 1.0, 0.0)
    engine.close_ended(now, 0)  # seen: the first bar, 3 ticks
    for i in range(3):
        engine.add("EURUSD", t0 + MINUTE + i * NS, 1.0, 0.0)  # closes the first bar
    engine.close_ended(now, 0)  # another bar, 3 ticks: not quiet
    assert [(c.timeframe, c.ts_open) for c in engine.finals] == [("M1", t0)]
    engine.add("EURUSD", t0 + MINUTE + 3 * NS, 1.0, 0.0)
    engine.add("EURUSD", t0 + 2 * MINUTE, 1.0, 0.0)
    assert engine.late == []
    engine.close_ended(now, 0)
    engine.close_ended(now, 0)  # quiet now: closed, with its hour
    assert [(c.timeframe, c.ts_open, c.tick_count) for c in engine.finals] == [
        ("M1", t0, 3), ("M1", t0 + MINUTE, 4), ("M1", t0 + 2 * MINUTE, 1), ("H1", t0, 8),
    ]  # fmt: skip


def test_no_bar_is_made_for_an_interval_without_ticks() -> None:
    t0 = 1_700_006_400 * NS
    ticks = [
        Tick(symbol="EURUSD", bid=1.0, ask=1.1, ts=t0),
        Tick(symbol="EURUSD", bid=1.2, ask=1.3, ts=t0 + 10 * MINUTE),
    ]
    bars, _ = _engine_bars(ticks, ("M1", "M5"), "bid")
    assert sorted((tf, ts - t0) for _, tf, ts in bars) == [
        ("M1", 0), ("M1", 10 * MINUTE), ("M5", 0), ("M5", 10 * MINUTE),
    ]  # fmt: skip


def test_the_options_are_checked_and_a_bad_one_is_named_with_what_is_allowed() -> None:
    assert check_candle_options() == (DEFAULT_TIMEFRAMES, "bid")
    assert check_candle_options(["H1", "M1", "M1"], "mid") == (("M1", "H1"), "mid")
    assert check_candle_options([]) == ((), "bid")
    with pytest.raises(
        InvalidOption,
        match=r"candles must be one of the timeframes M1, M5.*D1, got 'M2'",
    ):
        check_candle_options(["M1", "M2"])
    with pytest.raises(InvalidOption, match="not one string"):
        check_candle_options("M1")
    with pytest.raises(
        InvalidOption,
        match=r"candle price must be one of bid, ask, mid, last, got 'close'",
    ):
        check_candle_options(["M1"], "close")
    assert issubclass(InvalidOption, ValueError)


def test_a_candle_encoded_before_its_new_fields_still_decodes() -> None:
    old = msgspec.msgpack.encode(["Candle", "EURUSD", "M5", 0, 1.0, 2.0, 0.5, 1.5, 3.0, 4, 123])
    candle = decode(old)
    assert isinstance(candle, Candle)
    assert (candle.complete, candle.revision, candle.first_tick_ts, candle.last_tick_ts) == (
        True, 0, None, None,
    )  # fmt: skip
    again = Candle(
        symbol="EURUSD", timeframe="M5", ts_open=0, open=1.0, high=2.0, low=0.5, close=1.5,
        complete=False, revision=2, first_tick_ts=1, last_tick_ts=2,
    )  # fmt: skip
    assert decode(encode(again)) == again
