"""The candle service: OHLCV bars of every symbol built from the ticks on the bus."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from itertools import islice
from operator import attrgetter, le
from types import TracebackType
from typing import Any, Self

import anyio
import msgspec
from anyio.abc import TaskGroup

from eventbus import BusClosed, Headers, Message, Subscription
from schemas import Candle, Tick, Timeframe
from writers import InvalidOption

from ._candles_bar import Bar
from ._candles_engine import NS, CandleEngine, LateTick
from ._candles_options import (
    DEFAULT_TIMEFRAMES,
    check_candle_options,
    check_duration,
    price_getter,
)
from ._candles_restart import catch_up, restore_bars
from ._candles_store import stored_bars, ticks_after
from ._exceptions import TradebusError
from ._node import Node

__all__ = ["CandleService", "CandleStatistics"]

logger = logging.getLogger("tradebus.candles")

#: The name the service subscribes and publishes under.
NAME = "candles"
#: A batch of at least this many ticks of one symbol, each with the charted price, in
#: time order (a feed of one symbol, an import) goes a bar at a time.
_IN_ORDER = 16
_local = attrgetter("local")
_symbol = attrgetter("symbol")
_ts = attrgetter("ts")
_volume = attrgetter("volume")


class CandleStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What the candle service did since it started.

    :param ticks: ticks taken into bars.
    :param skipped: ticks without the charted price (no ``last``), not charted.
    :param late_ticks: ticks older than their timeframe's open bar (counted once per
        timeframe they were late for), merged into their stored bar.
    :param revisions: stored bars changed by late ticks.
    :param finals: bars published complete.
    :param updates: bars in progress published (incomplete).
    :param restored: incomplete bars taken up again at start (stored when it last stopped).
    :param stored_incomplete: bars in progress stored when it stopped.
    :param symbols: symbols seen.
    :param caught_up: ticks taken at start from the database: stored after the newest
        tick of the stored bars, while the service was not running.
    """

    ticks: int
    skipped: int
    late_ticks: int
    revisions: int
    finals: int
    updates: int
    restored: int
    stored_incomplete: int
    symbols: int
    caught_up: int


class CandleService:
    """Candles of every symbol from the ticks on the node's bus, stored in ``candles``.

    Use inside an open node that hosts the bot's database (where the ticks are
    stored): ``async with CandleService(node) as candles: ...``.

    :param timeframes: the timeframes built (default M1, M5, M15, H1, D1).
    :param price: the price charted: ``bid`` (default), ``ask``, ``mid`` or ``last``.
    :param grace: seconds after a bar's interval ends before the wall clock closes it
        (when its symbol has been quiet since the previous check).
    :param update_interval: the bars in progress are published (incomplete) at most
        this often, in seconds; None: only when they close and at shutdown.
    :param max_catch_up: at start, at most this many stored ticks newer than the
        stored bars are taken into them (more: none are, and a warning says to rebuild).
    :raises InvalidOption: for a bad timeframe, price or duration.
    :raises TradebusError: if the node does not host the database candles are stored in.
    """

    def __init__(
        self,
        node: Node,
        *,
        timeframes: Iterable[str] | None = DEFAULT_TIMEFRAMES,
        price: str = "bid",
        grace: float = 2.0,
        update_interval: float | None = 1.0,
        max_catch_up: int = 2_000_000,
    ) -> None:
        self.timeframes, self.price = check_candle_options(timeframes, price)
        if not self.timeframes:
            raise TradebusError("a candle service needs at least one timeframe (none given)")
        self.grace = check_duration("grace", grace, positive=True)
        self.update_interval = (
            None
            if update_interval is None
            else check_duration("update_interval", update_interval, positive=False)
        )
        spec = node.topology.home(Candle)
        if spec is None or node.topology.owner(spec) not in node.roles:
            raise TradebusError(
                f"the candle service runs in the node that stores the ticks and candles "
                f"({'no database' if spec is None else spec.filename}); this node hosts "
                f"{', '.join(node.roles) or 'no roles'}: start it there"
            )
        if type(max_catch_up) is not int or max_catch_up < 0:
            raise InvalidOption("max_catch_up", max_catch_up, "an int >= 0")
        self.max_catch_up = max_catch_up
        self.node = node
        self._database = spec.name
        self._last_ts = 0
        self.engine = CandleEngine(self.timeframes, self._stamp)
        self._price = price_getter(self.price)
        self._task_group: TaskGroup | None = None
        self._subscription: Subscription | None = None
        self._wake = anyio.CancelScope()
        self._stopping = False
        self._last_seq = 0
        self._ticks = self._skipped = 0
        self._n = dict.fromkeys(CandleStatistics.__struct_fields__, 0)

    def _stamp(self) -> int:
        """A candle's ``ts``: the wall clock, strictly increasing (a later version of a
        bar always replaces an earlier one)."""
        now = time.time_ns()
        self._last_ts = now if now > self._last_ts else self._last_ts + 1
        return self._last_ts

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        bus = self.node.bus
        # Subscribe first: no tick published from now on is missed while it restores.
        self._subscription = bus.subscribe(
            "market.tick.>", name=NAME, echo=False, max_buffer=100_000
        )
        try:
            await self._restore()
            self._task_group = anyio.create_task_group()
            await self._task_group.__aenter__()
        except BaseException:
            self._subscription.close()
            raise
        self._task_group.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        self._wake.cancel()
        task_group, self._task_group = self._task_group, None
        assert task_group is not None
        try:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            if self._subscription is not None:
                self._subscription.close()

    async def _restore(self) -> None:
        """Take up the stored bars, then catch up with the ticks stored after the newest
        tick they hold (relayed while it was not running, or before a crash)."""
        subscription = self._subscription
        assert subscription is not None
        subscribed_at = self.node.bus.published  # later ticks are in its buffer
        # A connection of its own: the node may be starting still (its shared readers
        # are for a running node).
        async with self.node.reader(self._database) as conn:
            restored, marks = await restore_bars(conn, self.engine)
            self._n["restored"] += restored
            await self._wait_stored(subscribed_at)  # every tick published before is stored
            stored = await ticks_after(conn, marks, self.price, self.max_catch_up)
        # The ticks published since it subscribed may be stored already: those the
        # buffer holds are taken from the buffer, not from the database.
        pending: list[Message[Any]] = []
        while batch := subscription.receive_batch_nowait(10_000):
            pending.extend(batch)
        if stored is None:
            logger.warning(
                "candles: more than %d ticks were stored after the newest bars; they are "
                "not in the bars: run 'tradebus candles rebuild' for their symbols",
                self.max_catch_up,
            )
            stored = []
        self._n["caught_up"] += catch_up(self.engine, stored, pending, marks, self._price)
        await self._process(pending)
        if self.engine.late:
            late, self.engine.late = self.engine.late, []
            await self._revise(late)
        await self._publish_finals()

    # ---------------------------------------------------------------------- loop

    async def _run(self) -> None:
        subscription = self._subscription
        assert subscription is not None
        check_every = self.grace / 2
        next_check = next_update = time.monotonic()
        try:
            while not self._stopping:
                batch: list[Message[Any]] = []
                with anyio.move_on_after(check_every) as self._wake:
                    if self._stopping:  # asked to stop before the scope existed
                        self._wake.cancel()
                    batch = await subscription.receive_batch(5000, 0.01)
                await self._process(batch)
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + check_every
                    self.engine.close_ended(time.time_ns(), int(self.grace * NS))
                updates: list[Candle] = []
                if self.update_interval is not None and now >= next_update:
                    next_update = now + self.update_interval
                    updates = self.engine.in_progress(changed_only=True)
                    self._n["updates"] += len(updates)
                await self._publish_finals(updates)
            # Stopping: what is buffered was published before the stop: take it all.
            while batch := subscription.receive_batch_nowait(5000):
                await self._process(batch)
            incomplete = self.engine.in_progress(changed_only=False)
            self._n["stored_incomplete"] += len(incomplete)
            await self._publish_finals(incomplete)
            await self._wait_stored()
        except BusClosed:
            if not self._stopping:
                raise
            logger.warning("candles: the bus closed before the bars in progress were stored")

    async def _process(self, batch: list[Message[Any]]) -> None:
        if not batch:
            return
        engine = self.engine
        price_of = self._price
        skipped = 0
        taken = len(batch)
        if taken >= _IN_ORDER and self._in_order(batch):
            batch = []  # taken a bar at a time
        symbols = engine.symbols
        slow = engine.slow
        state = engine.state
        for message in batch:
            tick: Tick | None = message.local  # what was published here, as it is
            if tick is None:
                tick = message.event  # from elsewhere: decoded
            price = price_of(tick)
            if price is None:
                skipped += 1
                continue
            ts = tick.ts
            st = symbols.get(tick.symbol)
            if st is not None:
                base = st.base
                if base is not None and base.ts_open <= ts < base.end:
                    # base.add, inlined: the path of nearly every tick.
                    if price > base.high:
                        base.high = price
                    if price < base.low:
                        base.low = price
                    if ts >= base.last_ts:
                        base.last_ts, base.close = ts, price
                    elif ts < base.first_ts:
                        base.first_ts, base.open = ts, price
                    base.volume += tick.volume
                    base.count += 1
                    continue
            else:
                st = state(tick.symbol)
            slow(tick.symbol, st, ts, price, tick.volume)
        self._ticks += taken - skipped
        self._skipped += skipped
        subscription = self._subscription
        assert subscription is not None
        subscription.ack(taken)
        await self._publish_finals()
        if engine.late:
            late, engine.late = engine.late, []
            await self._revise(late)

    def _in_order(self, batch: list[Message[Any]]) -> bool:
        """Take ``batch`` into the bars if its ticks are of one symbol, each with the
        charted price, their times in order (a feed of one symbol, an import): a bar
        at a time. False (nothing taken) if not."""
        ticks = list(map(_local, batch))
        if None in ticks:  # some came from elsewhere
            return False
        symbol = ticks[0].symbol
        if ticks[-1].symbol != symbol or list(map(_symbol, ticks)).count(symbol) != len(ticks):
            return False
        prices = list(map(self._price, ticks))
        if None in prices:
            return False
        ts = list(map(_ts, ticks))
        if not all(map(le, ts, islice(ts, 1, None))):
            return False
        volumes = list(map(_volume, ticks))
        self.engine.add_in_order(symbol, ts, prices, volumes)  # type: ignore[arg-type]
        return True

    async def _publish_finals(self, extra: list[Candle] | None = None) -> None:
        engine = self.engine
        finals, engine.finals = engine.finals, []
        self._n["finals"] += len(finals)
        for candle in (*finals, *(extra or ())):
            self._last_seq = await self.node.bus.publish(candle, headers=Headers(origin=NAME))

    async def _wait_stored(self, seq: int | None = None) -> None:
        """Wait until what this service published (or every message up to ``seq``) is
        stored: acknowledged by the writers."""
        seq = self._last_seq if seq is None else seq
        for subscription in self.node.bus.subscriptions():
            if subscription.durable:
                await subscription.wait_done(seq)

    async def _revise(self, late: list[LateTick]) -> None:
        """Merge late ticks into their stored bars (a revision of each)."""
        self._n["late_ticks"] += len(late)
        by_bar: dict[tuple[str, Timeframe, int], list[LateTick]] = {}
        for tick in late:
            by_bar.setdefault((tick[0], tick[1], tick[2]), []).append(tick)
        await self._wait_stored()  # the bars this service published are stored
        conn = await self.node.shared_reader(self._database)
        stored = await stored_bars(conn, by_bar)
        lengths = dict(zip(self.engine.timeframes, self.engine.lengths, strict=True))
        for (symbol, tf, ts_open), ticks in by_bar.items():
            row = stored.get((symbol, tf, ts_open))
            if row is None:
                bar, revision = Bar(ts_open, ts_open + lengths[tf]), 0
            else:
                bar, revision = Bar.of_row(row[:-1], lengths[tf]), int(row[7]) + 1
            for _, _, _, ts, price, volume in ticks:
                bar.add(ts, price, volume)
            candle = bar.candle(symbol, tf, self._stamp(), complete=True, revision=revision)
            self._n["revisions"] += row is not None
            self._last_seq = await self.node.bus.publish(candle, headers=Headers(origin=NAME))

    async def caught_up(self) -> None:
        """Return once every tick published before the call is in the bars (taken by
        the service; the bars are stored as they close, or as its options say)."""
        subscription = self._subscription
        if subscription is not None:
            await subscription.wait_done(self.node.bus.published)

    # -------------------------------------------------------------- inspection

    def statistics(self) -> CandleStatistics:
        n = self._n
        return CandleStatistics(
            ticks=self._ticks,
            skipped=self._skipped,
            late_ticks=n["late_ticks"],
            revisions=n["revisions"],
            finals=n["finals"],
            updates=n["updates"],
            restored=n["restored"],
            stored_incomplete=n["stored_incomplete"],
            symbols=len(self.engine.symbols),
            caught_up=n["caught_up"],
        )

    def __repr__(self) -> str:
        return f"<CandleService {list(self.timeframes)} price={self.price}>"
