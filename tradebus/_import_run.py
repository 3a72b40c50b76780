"""One import's stream of ticks on the bus, with its ledger rows between them.

The ticks and the ledger rows (:class:`~schemas.TickImport`) are published in file
order on one route, and the bot's writer commits what it receives in order: what is
committed is always a prefix of what was published. So the ledger row last committed
says which lines were read, and the ticks committed after it (counted by their
``source``, which names the import) are the first ticks after those lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Literal

import msgspec
from anyio.lowlevel import checkpoint

from eventbus import BusFull
from schemas import InvalidEvent, Tick, TickImport

from ._import_formats import BadRow, BulkParser, Columns, RowParser
from ._import_lines import Block
from ._node import Node

__all__ = ["KEPT_ERRORS", "ImportRun", "RowError"]

#: How many bad rows an import keeps to report (all are counted).
KEPT_ERRORS = 100
#: Lines parsed and published at once, between two turns of the event loop (the
#: writer's and the candle service's): about a batch of the writer.
STEP = 5_000


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """A line that is not a valid tick."""

    line: int
    field: str
    value: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field} {self.value!r}: {self.why}"


class ImportRun:
    """Publishes one import's ticks, and a ledger row every ``chunk`` ticks.

    :param state: the ledger row committed last (a fresh one for a new import).
    :param committed: how many ticks after ``state`` are committed already (an
        earlier run's, killed before its next ledger row): skipped, not published.
    """

    def __init__(
        self, node: Node, state: TickImport, *, tag: str, chunk: int, committed: int
    ) -> None:
        self.bus = node.bus
        self.state = state
        self.symbol = state.symbol
        self.tag = tag
        self.chunk = chunk
        self.committed = committed
        self.position = state.position
        self.offset = state.byte_offset
        self.first_ts, self.last_ts = state.first_ts, state.last_ts
        #: Since the last ledger row: ticks (committed before or published now) and bad rows.
        self.since = self.skipped_since = 0
        #: This run's counts.
        self.published = self.skipped = self.incomplete = self.recovered = 0
        self.errors: list[RowError] = []

    async def start(self) -> None:
        """A new import's first ledger row goes before its first tick: with no row
        committed, no tick of the import is."""
        if self.state.ts == 0:
            await self._ledger("partial")

    def bad(self, number: int, exc: BadRow) -> None:
        self.skipped += 1
        self.skipped_since += 1
        if len(self.errors) < KEPT_ERRORS:
            value = exc.value[:200]
            self.errors.append(RowError(line=number, field=exc.field, value=value, why=exc.why))

    async def read(
        self,
        blocks: Iterable[Block],
        parser: RowParser,
        *,
        bulk: BulkParser | None = None,
        header: bool,
        replay: bool,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Parse and publish every line after the ledger's position (``header``: the
        first line is not a row; ``replay``: parse the lines before the position too,
        publishing nothing: an MT5 file's book is carried from row to row).

        Lines go in steps of at most :data:`STEP` (ending where a chunk does): parsed
        together by ``bulk`` when it can, else one by one; their ticks published, then
        the event loop's turn (the writer's and the services').
        """
        chunk, skip_until = self.chunk, self.position
        seen = 0  # lines of the blocks before this one
        last: Block | None = None
        for block in blocks:
            lines = block.lines
            n = len(lines)
            if not n:
                continue
            last = block
            i = 0
            if seen < skip_until:  # committed by an earlier run
                i = min(n, skip_until - seen)
                if replay:
                    for k in range(i):
                        if seen + k > 0 and lines[k].strip():
                            with suppress(BadRow):
                                parser(lines[k])
            if header and seen == 0 and i == 0:
                i = 1
            while i < n:
                j = min(n, i + min(chunk - self.since, STEP))
                await self._step(lines[i:j], seen + i + 1, parser, bulk)
                i = j
                if self.since >= chunk:
                    self.position, self.offset = seen + j, block.end(j - 1)
                    await self._ledger("partial")
                    if progress is not None:
                        progress(self.offset)
            seen += n
        if last is not None:
            self.offset = last.end(len(last.lines) - 1)
        self.position = max(seen, self.position)

    async def _step(
        self, lines: list[str], first: int, parser: RowParser, bulk: BulkParser | None
    ) -> None:
        """Parse ``lines`` (the first is line ``first`` of the file) and publish their
        ticks (those after the ones an earlier run stored: counted, not published)."""
        columns = None if bulk is None else bulk(lines)
        numbers: list[int] | None = None  # of each tick's line (None: one per line)
        if columns is None:
            columns, numbers = self._one_by_one(lines, first, parser)
        ts, bids, asks, lasts, volumes = columns
        count = len(ts)
        if not count:
            return
        recovered = min(self.committed, count)
        if recovered:  # stored by the run that was killed: not again
            self.committed -= recovered
            self.recovered += recovered
        symbol, tag, tick = self.symbol, self.tag, Tick
        if lasts is None:
            ticks = [
                tick(symbol=symbol, bid=b, ask=a, volume=v, source=tag, ts=t)
                for t, b, a, v in zip(ts, bids, asks, volumes, strict=True)
            ]
        else:
            ticks = [
                tick(symbol=symbol, bid=b, ask=a, last=last, volume=v, source=tag, ts=t)
                for t, b, a, last, v in zip(ts, bids, asks, lasts, volumes, strict=True)
            ]
        del ticks[:recovered]
        refused = await self._publish(ticks)
        if refused:  # the parsers should have refused them: bad rows after all
            gone = set()
            for index, exc in refused:
                at = recovered + index
                number = first + at if numbers is None else numbers[at]
                self.bad(number, BadRow(exc.field or "row", lines[number - first], exc.reason))
                gone.add(at)
            ts = [t for k, t in enumerate(ts) if k not in gone]
            if not ts:
                return
        self.published += len(ticks) - len(refused)
        self.since += len(ts)
        low, high = min(ts), max(ts)
        if self.first_ts is None or low < self.first_ts:
            self.first_ts = low
        if self.last_ts is None or high > self.last_ts:
            self.last_ts = high

    def _one_by_one(
        self, lines: list[str], first: int, parser: RowParser
    ) -> tuple[Columns, list[int]]:
        """The ticks of ``lines`` parsed one by one (bad rows counted and kept), and the
        line number of each."""
        ts: list[int] = []
        bids: list[float] = []
        asks: list[float] = []
        lasts: list[float | None] = []
        volumes: list[float] = []
        numbers: list[int] = []
        for number, line in enumerate(lines, first):
            if not line or line.isspace():
                continue
            try:
                parsed = parser(line)
            except BadRow as exc:
                self.bad(number, exc)
                continue
            if parsed is None:
                self.incomplete += 1
                continue
            ts.append(parsed[0])
            bids.append(parsed[1])
            asks.append(parsed[2])
            lasts.append(parsed[3])
            volumes.append(parsed[4])
            numbers.append(number)
        return (ts, bids, asks, lasts, volumes), numbers

    async def _publish(self, ticks: list[Tick]) -> list[tuple[int, InvalidEvent]]:
        """Publish ``ticks`` in order, waiting for room when a buffer is full (the only
        turn of the event loop but the one at the end); return those refused (index,
        why)."""
        bus = self.bus
        done, count = 0, len(ticks)
        try:
            while True:
                done += bus.publish_each_nowait(ticks[done:] if done else ticks)
                if done >= count:
                    break
                await bus.publish(ticks[done])  # backpressure: wait for room
                done += 1
        except InvalidEvent:  # the parsers should have refused it: find which, one by one
            refused = await self._publish_one_by_one(ticks, done)
        else:
            refused = []
        await checkpoint()  # the writer's turn, and the services'
        return refused

    async def _publish_one_by_one(
        self, ticks: list[Tick], start: int
    ) -> list[tuple[int, InvalidEvent]]:
        bus = self.bus
        refused: list[tuple[int, InvalidEvent]] = []
        for index in range(start, len(ticks)):
            try:
                try:
                    bus.publish_nowait(ticks[index])
                except BusFull:
                    await bus.publish(ticks[index])
            except InvalidEvent as exc:
                refused.append((index, exc))
        return refused

    async def finish(self) -> None:
        """The last ledger row (``complete``), and wait until everything is stored."""
        await self._ledger("complete")
        await self.bus.flush()

    async def _ledger(self, status: Literal["partial", "complete"]) -> None:
        state = self.state
        self.state = msgspec.structs.replace(
            state,
            position=self.position,
            byte_offset=self.offset,
            ticks=state.ticks + self.since,
            skipped=state.skipped + self.skipped_since,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            status=status,
            ts=time.time_ns(),
        )
        self.since = self.skipped_since = 0
        await self.bus.publish(self.state)
