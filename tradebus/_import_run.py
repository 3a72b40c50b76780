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

from ._import_formats import BadRow, RowParser
from ._node import Node

__all__ = ["KEPT_ERRORS", "ImportRun", "RowError"]

#: How many bad rows an import keeps to report (all are counted).
KEPT_ERRORS = 100
#: The producer yields to the event loop every this many ticks (the writer's turn).
YIELD_EVERY = 500


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
        lines: Iterable[tuple[str, int]],
        parser: RowParser,
        *,
        header: bool,
        replay: bool,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Parse and publish every line after the ledger's position (``header``: the
        first line is not a row; ``replay``: parse the lines before the position too,
        publishing nothing: an MT5 file's book is carried from row to row).

        The loop keeps its counters in locals (it runs once per line) and hands them
        to the ledger row at each chunk's end.
        """
        publish, tick_type, symbol, tag = self.bus.publish_nowait, Tick, self.symbol, self.tag
        skip_until, chunk = self.position, self.chunk
        first_ts, last_ts = self.first_ts, self.last_ts
        since = published = 0
        until_yield = YIELD_EVERY
        number, offset = self.position, self.offset
        for number, (line, offset) in enumerate(lines, 1):
            if number <= skip_until or (number == 1 and header) or not line or line.isspace():
                if replay and number > 1 and line.strip():
                    with suppress(BadRow):
                        parser(line)
                continue
            try:
                parsed = parser(line)
            except BadRow as exc:
                self.bad(number, exc)
                continue
            if parsed is None:
                self.incomplete += 1
                continue
            ts, bid, ask, last, volume = parsed
            if self.committed:
                self.committed -= 1  # stored by the run that was killed: not again
                self.recovered += 1
            else:
                tick = tick_type(
                    symbol=symbol, bid=bid, ask=ask, last=last, volume=volume, source=tag, ts=ts
                )
                try:
                    try:
                        publish(tick)
                    except BusFull:
                        await self.bus.publish(tick)  # backpressure: wait for room
                except InvalidEvent as exc:  # the parsers should have refused it
                    self.bad(number, BadRow(exc.field or "row", line, exc.reason))
                    continue
                published += 1
                until_yield -= 1
                if not until_yield:
                    until_yield = YIELD_EVERY
                    await checkpoint()
            if first_ts is None or ts < first_ts:
                first_ts = ts
            if last_ts is None or ts > last_ts:
                last_ts = ts
            since += 1
            if since >= chunk:
                self.published += published
                self.position, self.offset, self.since = number, offset, since
                self.first_ts, self.last_ts = first_ts, last_ts
                since = published = 0
                await self._ledger("partial")
                if progress is not None:
                    progress(offset)
        self.published += published
        self.position, self.offset, self.since = max(number, self.position), offset, since
        self.first_ts, self.last_ts = first_ts, last_ts

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
