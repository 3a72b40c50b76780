"""One import's stream of ticks on the bus, with its ledger rows between them.

The ticks and the ledger rows (:class:`~schemas.TickImport`) are published in file
order on one route, and the bot's writer commits what it receives in order: what is
committed is always a prefix of what was published. So the ledger row last committed
says which lines were read, and the ticks committed after it (counted by their
``source``, which names the import) are the first ticks after those lines.
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec
from anyio.lowlevel import checkpoint

from eventbus import BusFull
from schemas import Tick, TickImport

from ._import_formats import BadRow, Parsed
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
        self._until_yield = YIELD_EVERY

    async def start(self) -> None:
        """A new import's first ledger row goes before its first tick: with no row
        committed, no tick of the import is."""
        if self.state.ts == 0:
            await self._ledger("partial")

    def mark(self, number: int, offset: int) -> None:
        """Line ``number`` (ending at byte ``offset``) was read."""
        if number > self.position:
            self.position, self.offset = number, offset

    def bad(self, number: int, offset: int, exc: BadRow) -> None:
        self.skipped += 1
        self.skipped_since += 1
        if len(self.errors) < KEPT_ERRORS:
            value = exc.value[:200]
            self.errors.append(RowError(line=number, field=exc.field, value=value, why=exc.why))
        self.mark(number, offset)

    async def add(self, parsed: Parsed, number: int, offset: int) -> bool:
        """Publish the tick of a line; True when a ledger row followed it."""
        if number > self.position:
            self.position, self.offset = number, offset
        if parsed is None:
            self.incomplete += 1
            return False
        ts, bid, ask, last, volume = parsed
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        self.since += 1
        if self.committed:
            self.committed -= 1  # stored by the run that was killed: not again
            self.recovered += 1
        else:
            tick = Tick(
                symbol=self.symbol, bid=bid, ask=ask, last=last, volume=volume,
                source=self.tag, ts=ts,
            )  # fmt: skip
            try:
                self.bus.publish_nowait(tick)
            except BusFull:
                await self.bus.publish(tick)  # backpressure: wait for room
            self.published += 1
            self._until_yield -= 1
            if not self._until_yield:
                self._until_yield = YIELD_EVERY
                await checkpoint()
        if self.since >= self.chunk:
            await self._ledger("partial")
            return True
        return False

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
