"""Storing a batch that failed: alone, retried, split around what cannot be stored.

A transient fault (a lock held elsewhere, a full disk) is retried with backoff. A
batch that holds poison is bisected, each part committed and acknowledged on its own,
until the poison is alone: it goes to the dead letters. A group (messages published
together, all or nothing) is never split: it is stored whole, or every member goes
to the dead letters with a reason naming the member that was refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import anyio

from eventbus import Message

from ._exceptions import WriterError, error_text
from ._store import Poison, Skipped, Store, event_name
from ._writer_stats import Counters

__all__ = ["Rescue", "group_of", "split_point"]

logger = logging.getLogger("writers")

_FIRST_BACKOFF = 0.05


class _Acknowledge(Protocol):
    def __call__(
        self,
        batch: list[Message],
        failed: dict[int, str],
        rows: Mapping[str, int],
        seconds: float | None,
    ) -> Awaitable[None]: ...


def group_of(message: Message) -> int:
    """The group a message was published in (0: alone)."""
    return message.group


def split_point(batch: list[Message]) -> int | None:
    """Where to cut ``batch`` in two, nearest its middle, between two groups (a message
    published alone is a group of its own); None if it is one group."""
    n = len(batch)
    middle = n // 2
    for distance in range(n):
        for cut in (middle - distance, middle + distance):
            if 0 < cut < n:
                group = group_of(batch[cut])
                if group == 0 or group != group_of(batch[cut - 1]):
                    return cut
    return None


class Rescue:
    """Stores one batch while nothing else is in flight (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        counters: Counters,
        *,
        name: str,
        max_backoff: float,
        acknowledge: _Acknowledge,
    ) -> None:
        self.db = store
        self.counters = counters
        self.name = name
        self.max_backoff = max_backoff
        self.acknowledge = acknowledge

    async def store(self, batch: list[Message], error: Exception | None = None) -> None:
        """Commit ``batch`` (``error``: what its first attempt raised, if it was made).

        Each part is acknowledged as soon as it is committed (a bisected batch in
        several parts, in order): a stop while a later part retries leaves only what
        is not committed unacknowledged, for the drain to commit, never a part twice.

        :raises WriterError: on a fault that retrying will not fix, or a bug.
        """
        try:
            await self._retrying(lambda: self._commit(batch), len(batch), error)
        except Poison as exc:
            cut = split_point(batch)
            if cut is None:
                await self._refuse(batch, exc)
                return
            await self.store(batch[:cut])
            await self.store(batch[cut:])

    async def _commit(self, batch: list[Message]) -> None:
        transaction = self.db.plan(batch)
        with anyio.CancelScope(shield=True):  # committed: always acknowledged
            seconds = await self.db.submit(transaction).outcome()
            await self.acknowledge(batch, {}, transaction.rows, seconds)

    async def _retrying(
        self, attempt: Callable[[], Awaitable[None]], holding: int, error: Exception | None
    ) -> None:
        """Run ``attempt`` until it succeeds, backing off on transient faults.

        :raises Poison: if what is held cannot be stored.
        :raises WriterError: on a fault that retrying will not fix, or a bug.
        """
        backoff = _FIRST_BACKOFF
        while True:
            if error is None:
                try:
                    await attempt()
                except Exception as exc:
                    error = exc
                else:
                    self.counters.last_error = None
                    return
            if isinstance(error, WriterError):
                raise error
            # A file deleted or replaced: the store says so, and what it could save.
            await self.db.verify(holding)
            if isinstance(error, Skipped):  # a failure before it was already handled
                error = None
                continue
            fault = self.db.classify(error)
            if fault == "poison":
                if isinstance(error, Poison):
                    raise error
                raise Poison(error_text(error)) from error
            if fault == "fatal":
                raise WriterError(
                    f"writer {self.name!r} cannot write {self.db.target}: "
                    f"{error_text(error)}; the {holding} events it holds are "
                    "not stored (the writer stops)"
                ) from error
            if fault == "bug":
                raise WriterError(
                    f"writer {self.name!r} failed on a bug, not on the data: "
                    f"{error_text(error)}; the {holding} events it holds are not "
                    "acknowledged (the writer stops)"
                ) from error
            self.counters.retries += 1
            self.counters.last_error = error_text(error)
            logger.warning(
                "writer %s: %s; holding %d events, retrying in %.2fs",
                self.name,
                self.counters.last_error,
                holding,
                backoff,
            )
            error = None
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _refuse(self, batch: list[Message], poison: Poison) -> None:
        """Move ``batch`` (one message, or one group) to the dead letters."""
        if len(batch) == 1:
            reasons = {batch[0].seq: str(poison)}
        else:
            reasons = await self._group_reasons(batch, poison)
        for message in batch:
            logger.error(
                "writer %s: %s (topic %s, seq %d) moved to dead_letters: %s",
                self.name,
                event_name(message),
                message.topic,
                message.seq,
                reasons[message.seq],
            )
        failures = [(m, reasons[m.seq]) for m in batch]

        async def record() -> None:
            transaction = self.db.dead_letters(failures)
            with anyio.CancelScope(shield=True):
                await self.db.submit(transaction).outcome()
                failed = {seq: f"went to dead_letters: {why}" for seq, why in reasons.items()}
                await self.acknowledge(batch, failed, transaction.rows, None)

        await self._retrying(record, len(batch), None)

    async def _group_reasons(self, group: list[Message], poison: Poison) -> dict[int, str]:
        """Why each member of a refused group is not stored: find the first member
        whose group prefix is refused (trial transactions, rolled back), and name it."""
        low, high = 1, len(group)  # the shortest refused prefix is in [low, high]
        refusal = poison
        while low < high:
            middle = (low + high) // 2
            found = await self._trial(group[:middle])
            if found is None:
                low = middle + 1
            else:
                high, refusal = middle, found
        culprit = group[high - 1]
        named = f"seq {culprit.seq} ({event_name(culprit)})"
        why = (
            f"it was published in a group of {len(group)} events (seqs {group[0].seq} to "
            f"{group[-1].seq}), stored whole or not at all, and its member {named} was "
            f"refused: {refusal}"
        )
        reasons = dict.fromkeys((m.seq for m in group), why)
        reasons[culprit.seq] = str(refusal)
        return reasons

    async def _trial(self, messages: list[Message]) -> Poison | None:
        """The poison that storing ``messages`` meets, if any (nothing is committed)."""
        refusal: list[Poison] = []

        async def attempt() -> None:
            transaction = self.db.plan(messages)
            await self.db.submit(transaction, trial=True).outcome()

        try:
            await self._retrying(attempt, len(messages), None)
        except Poison as exc:
            refusal.append(exc)
        return refusal[0] if refusal else None
