"""Candles from ticks, in memory: the bars of every symbol and timeframe, no I/O.

Only the shortest timeframe (the base) takes each tick; a longer timeframe's open bar
is the fold of the base bars closed in its interval plus the open base bar. A tick
falls in the interval ``[ts_open, ts_open + tf)`` aligned to UTC epoch multiples of
the timeframe. A bar's open and close are the prices of its earliest and latest tick
by timestamp (of equal timestamps, the one that arrived first opens and the one
that arrived last closes), so a tick that arrives late lands where its timestamp
says.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from itertools import islice
from operator import add
from typing import Any

from schemas import TIMEFRAME_SECONDS, Candle, Timeframe

from ._candles_bar import Bar

__all__ = ["NS", "CandleEngine", "LateTick"]

NS = 1_000_000_000

#: A tick that arrived after its bar was closed: (symbol, timeframe, ts_open, ts,
#: price, volume).
LateTick = tuple[str, Timeframe, int, int, float, float]


class _Symbol:
    """One symbol's bars: the open base bar, each longer timeframe's accumulator, and
    for each timeframe the ts_open of its last bar closed (-1: none)."""

    __slots__ = ("accs", "base", "floors", "published", "seen")

    def __init__(self, longer: int) -> None:
        self.base: Bar | None = None
        self.accs: list[Bar | None] = [None] * longer
        self.floors: list[int] = [-1] * (longer + 1)
        #: The base bar (its ts_open) and its count at the last wall-clock check.
        self.seen: tuple[int, int] = (-1, -1)
        self.published: tuple[int, ...] = ()  # the counts last published in progress


class CandleEngine:
    """The bars of every symbol for ``timeframes`` (shortest first, as
    :func:`check_candle_options` returns them).

    Feed ticks with :meth:`add` (or the fast loop of the service); what it closes
    goes to :attr:`finals` as candles (``stamp()`` gives each its ``ts``); ticks older
    than their timeframe's open bar go to :attr:`late`, for the caller to merge into
    the stored bars.
    """

    def __init__(self, timeframes: Sequence[Timeframe], stamp: Callable[[], int]) -> None:
        if not timeframes:
            raise ValueError("a candle engine needs at least one timeframe")
        self.timeframes = tuple(timeframes)
        self.lengths = tuple(TIMEFRAME_SECONDS[tf] * NS for tf in self.timeframes)
        self.base_length = self.lengths[0]
        self.stamp = stamp
        self.symbols: dict[str, _Symbol] = {}
        self.finals: list[Candle] = []
        self.late: list[LateTick] = []

    # ------------------------------------------------------------------ ticks

    def add(self, symbol: str, ts: int, price: float, volume: float) -> None:
        """Take one tick of ``symbol``."""
        st = self.symbols.get(symbol)
        if st is None:
            st = self.symbols[symbol] = _Symbol(len(self.lengths) - 1)
        base = st.base
        if base is not None and base.ts_open <= ts < base.end:
            base.add(ts, price, volume)
            return
        self.slow(symbol, st, ts, price, volume)

    def add_in_order(
        self, symbol: str, ts: list[int], prices: list[float], volumes: list[float]
    ) -> None:
        """Take ticks of ``symbol`` in time order (``ts`` never decreasing), as
        :meth:`add` would one by one: those of the open base bar a bar at a time."""
        st = self.state(symbol)
        slow = self.slow
        n = len(ts)
        i = 0
        while i < n:
            base = st.base
            at = ts[i]
            if base is None or not base.ts_open <= at < base.end:
                slow(symbol, st, at, prices[i], volumes[i])
                i += 1
            elif at < base.last_ts:  # before the bar's latest tick: as add does
                base.add(at, prices[i], volumes[i])
                i += 1
            else:  # up to the bar's end, each tick is the latest: it closes the bar
                end = bisect_left(ts, base.end, i)
                high, low = max(islice(prices, i, end)), min(islice(prices, i, end))
                if high > base.high:
                    base.high = high
                if low < base.low:
                    base.low = low
                base.last_ts, base.close = ts[end - 1], prices[end - 1]
                base.volume = reduce(add, islice(volumes, i, end), base.volume)  # in order
                base.count += end - i
                i = end

    def state(self, symbol: str) -> _Symbol:
        st = self.symbols.get(symbol)
        if st is None:
            st = self.symbols[symbol] = _Symbol(len(self.lengths) - 1)
        return st

    def slow(self, symbol: str, st: _Symbol, ts: int, price: float, volume: float) -> None:
        """A tick outside the open base bar: a new base interval, or a late tick."""
        lengths = self.lengths
        bucket = ts - ts % lengths[0]
        base = st.base
        advance = bucket > (base.ts_open if base is not None else st.floors[0])
        if advance:
            for i, length in enumerate(lengths[1:]):
                acc, higher = st.accs[i], ts - ts % length
                if higher <= st.floors[i + 1] if acc is None else higher < acc.ts_open:
                    advance = False  # its longer bar is closed already: a late tick there
                    break
        if not advance:
            self._late(symbol, st, ts, price, volume)
            return
        if base is not None:
            self._close_base(symbol, st)
        for i, length in enumerate(lengths[1:]):
            higher = ts - ts % length
            acc = st.accs[i]
            if acc is not None and higher > acc.ts_open:
                self._close_acc(symbol, st, i)
                acc = None
            if acc is None:
                st.accs[i] = Bar(higher, higher + length)
        base = st.base = Bar(bucket, bucket + lengths[0])
        base.add(ts, price, volume)

    def _late(self, symbol: str, st: _Symbol, ts: int, price: float, volume: float) -> None:
        timeframes = self.timeframes
        base = st.base
        for i, length in enumerate(self.lengths):
            bucket = ts - ts % length
            bar = base if i == 0 else st.accs[i - 1]
            if bar is not None and bar.ts_open == bucket:
                bar.add(ts, price, volume)  # its own bar is open: not late for it
            else:
                self.late.append((symbol, timeframes[i], bucket, ts, price, volume))

    def _close_base(self, symbol: str, st: _Symbol) -> None:
        base = st.base
        assert base is not None
        for acc in st.accs:
            if acc is not None:
                acc.merge(base)
        self.finals.append(
            base.candle(
                symbol, self.timeframes[0], self.stamp(), complete=True, revision=base.revision
            )
        )
        st.floors[0] = base.ts_open
        st.base = None

    def _close_acc(self, symbol: str, st: _Symbol, i: int) -> None:
        acc = st.accs[i]
        assert acc is not None
        if acc.count:
            tf = self.timeframes[i + 1]
            self.finals.append(
                acc.candle(symbol, tf, self.stamp(), complete=True, revision=acc.revision)
            )
            st.floors[i + 1] = acc.ts_open
        st.accs[i] = None

    # ------------------------------------------------------------ wall clock

    def close_ended(self, now: int, grace: int) -> None:
        """Close the bars whose interval ended at least ``grace`` ns before ``now`` and
        whose symbol added no tick to its base bar since the previous call."""
        for symbol, st in self.symbols.items():
            base = st.base
            if base is not None:
                # Quiet: the same bar as at the last check, no tick added since (a bar
                # opened since with as many ticks is not: ticks of the past, imported,
                # fill bars faster than the checks come).
                seen = (base.ts_open, base.count)
                if now >= base.end + grace and seen == st.seen:
                    self._close_base(symbol, st)
                    base = None
                else:
                    st.seen = seen
            if base is None:
                st.seen = (-1, -1)
                for i, acc in enumerate(st.accs):
                    if acc is not None and now >= acc.end + grace:
                        self._close_acc(symbol, st, i)

    # ------------------------------------------------------------- snapshots

    def open_bars(self, symbol: str) -> list[tuple[Timeframe, Bar]]:
        """The open bars of ``symbol`` as they stand (a longer one with the open base)."""
        st = self.symbols[symbol]
        base = st.base
        bars: list[tuple[Timeframe, Bar]] = []
        if base is not None:
            bars.append((self.timeframes[0], base))
        for i, acc in enumerate(st.accs):
            if acc is None:
                continue
            bar = acc
            if base is not None:
                bar = acc.copy()
                bar.merge(base)
            if bar.count:
                bars.append((self.timeframes[i + 1], bar))
        return bars

    def in_progress(self, *, changed_only: bool) -> list[Candle]:
        """The open bars as candles marked incomplete (only those that changed since
        they were last taken, with ``changed_only``)."""
        candles: list[Candle] = []
        for symbol, st in self.symbols.items():
            key = (
                -1 if st.base is None else st.base.ts_open,
                -1 if st.base is None else st.base.count,
                *(-1 if acc is None else acc.count for acc in st.accs),
            )
            if changed_only and key == st.published:
                continue
            st.published = key
            for tf, bar in self.open_bars(symbol):
                candles.append(
                    bar.candle(symbol, tf, self.stamp(), complete=False, revision=bar.revision)
                )
        return candles

    def close_all(self) -> None:
        """Close every open bar (to :attr:`finals`): the end of a rebuild's ticks."""
        for symbol, st in self.symbols.items():
            if st.base is not None:
                self._close_base(symbol, st)
            for i in range(len(st.accs)):
                if st.accs[i] is not None:
                    self._close_acc(symbol, st, i)

    # --------------------------------------------------------------- restart

    def restore(
        self,
        symbol: str,
        rows: Iterable[tuple[Timeframe, Sequence[Any], bool]],
        earlier: Iterable[Sequence[Any]] = (),
    ) -> int:
        """Take up ``symbol``'s stored bars: ``rows``, its latest bar of each timeframe
        ``(timeframe, row, complete)`` (rows as :meth:`Bar.of_row` reads them), and
        ``earlier``, its stored base bars from the start of the longest timeframe's
        interval holding the latest base bar up to that bar (oldest first).

        The latest base bar is opened again if incomplete; each longer timeframe's open
        bar is folded again from the stored base bars of its interval (what a bar
        stored in progress held is there, and what it missed too), unless its stored
        bar of that interval is complete. Returns how many bars were opened.
        """
        st = self.state(symbol)
        latest = {tf: (row, complete) for tf, row, complete in rows}
        index = {tf: i for i, tf in enumerate(self.timeframes)}
        for tf, (row, _) in latest.items():
            st.floors[index[tf]] = int(row[0])
        if self.timeframes[0] not in latest:
            return 0  # no base bar: the longer ones cannot be folded again
        row, complete = latest[self.timeframes[0]]
        base = Bar.of_row(row, self.lengths[0])
        opened = 0
        if not complete:
            st.base, st.floors[0] = base, -1
            opened += 1
        folded = [Bar.of_row(r, self.lengths[0]) for r in earlier]
        if complete:
            folded.append(base)
        for i, length in enumerate(self.lengths[1:]):
            start = base.ts_open - base.ts_open % length
            stored = latest.get(self.timeframes[i + 1])
            if stored is not None and (
                int(stored[0][0]) > start or (int(stored[0][0]) == start and stored[1])
            ):
                continue  # complete (or later than the base bar): closed, as stored
            acc = Bar(start, start + length)
            for bar in folded:
                if bar.ts_open >= start:
                    acc.merge(bar)
            if stored is not None and int(stored[0][0]) == start:
                acc.revision = int(stored[0][7])
            st.accs[i] = acc
            opened += 1 if acc.count or st.base is not None else 0
        return opened
