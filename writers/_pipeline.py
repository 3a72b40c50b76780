"""The writer's pipeline: batches planned and submitted while earlier ones commit.

Each batch received becomes an entry: planned and submitted to the store at once
(:meth:`Pipeline.launch`), then settled in order (:meth:`Pipeline.settle`): its
outcome awaited, the store's files verified, its messages acknowledged. When an
entry fails, the store runs nothing submitted after it; the pipeline then stores
that batch alone (retrying transient faults, splitting it around what cannot be
stored, see :mod:`._rescue`), and plans the entries after it again from scratch.

A batch taken for a waiter while the pipeline is idle (:meth:`Pipeline.express`) is
settled at once when the store committed it as it was submitted: no task of the
writer's is woken for it. A publisher's call that finds committed entries at the
head (:meth:`Pipeline.settle_committed`, when a producer that never yields keeps
the writer's tasks from running) settles them there, as :meth:`Pipeline.settle`
would; an entry is acknowledged by exactly one of them (``_Entry.settled``,
``_Entry.settling``).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Mapping

import anyio

from eventbus import Message, Subscription

from ._exceptions import WriterError
from ._rescue import Rescue
from ._store import Pending, Store, Transaction
from ._writer_stats import Counters

__all__ = ["Pipeline"]

logger = logging.getLogger("writers")


class _Entry:
    """A batch in the pipeline: submitted (``pending``) or not (deferred, or its plan
    failed with ``error``)."""

    __slots__ = ("batch", "cut_at", "error", "pending", "settled", "settling", "transaction")

    def __init__(self, batch: list[Message]) -> None:
        self.batch = batch
        self.cut_at = time.monotonic()  # when the batch was taken
        self.pending: Pending | None = None
        self.transaction: Transaction | None = None
        self.error: Exception | None = None
        #: Acknowledged (and gone from the entries): what :meth:`Pipeline.settle`
        #: awaiting its outcome meanwhile must not acknowledge again.
        self.settled = False
        #: Being acknowledged by :meth:`Pipeline.settle` (past its outcome).
        self.settling = False


class Pipeline:
    """The batches a writer holds, in the order they were received (and are acked)."""

    def __init__(
        self,
        store: Store,
        subscription: Subscription,
        counters: Counters,
        *,
        name: str,
        depth: int,
        max_backoff: float,
        on_commit: Callable[[list[Message], float], None] | None,
    ) -> None:
        self.store = store
        self.subscription = subscription
        self.counters = counters
        self.name = name
        self.depth = depth
        self.on_commit = on_commit
        self.entries: collections.deque[_Entry] = collections.deque()
        #: No more batches will come (the subscription ended).
        self.finished = False
        #: The writer's receiving task waits for a batch: a place is kept for it (a
        #: batch launched meanwhile from a publisher's call must leave it room).
        self.reserved = False
        #: What went wrong where it could not be raised (a publisher's call): the
        #: settling task raises it.
        self.failure: Exception | None = None
        # The head is being stored alone: whatever comes meanwhile waits, unplanned.
        self._blocked = False
        self._changed = anyio.Event()
        self._rescue = Rescue(
            store, counters, name=name, max_backoff=max_backoff, acknowledge=self.acknowledge
        )

    # ------------------------------------------------------------------ entries

    def has_room(self) -> bool:
        return len(self.entries) < self.depth

    def may_take(self) -> bool:
        """Whether a batch may be launched now by someone other than the writer's
        receiving task: room besides the place kept for it, nothing stored alone."""
        return (
            len(self.entries) + self.reserved < self.depth
            and not self._blocked
            and not self.finished
        )

    def launch(self, batch: list[Message]) -> None:
        """Plan and submit ``batch`` (after every entry before it)."""
        entries = self.entries
        entry = _Entry(batch)
        if not self._blocked and (not entries or entries[-1].pending is not None):
            self._submit(entry)
        entries.append(entry)
        self._notify()

    def _submit(self, entry: _Entry) -> None:
        try:
            entry.transaction = transaction = self.store.plan(entry.batch)
        except Exception as exc:
            entry.error = exc  # settled in its turn: stored alone
        else:
            entry.pending = self.store.submit(transaction)

    def idle(self) -> bool:
        """Whether nothing is in the pipeline, nor being stored alone, and more may come."""
        return not self.entries and not self._blocked and not self.finished

    def express(self, batch: list[Message]) -> None:
        """Plan and submit ``batch`` into an :meth:`idle` pipeline, and settle it at
        once if its transaction committed as it was submitted (the store ran it in
        this thread) and the store's files are unchanged: it is acknowledged before
        this returns, in the caller's task. Otherwise it is an entry as
        :meth:`launch` makes, settled in its turn."""
        entry = _Entry(batch)
        try:
            self._submit(entry)
        except Exception as exc:  # in the waiter's task: the writer's task sorts it out
            entry.pending, entry.error = None, exc
        if not self._settle_now(entry):
            self.entries.append(entry)
            self._notify()

    def _settle_now(self, entry: _Entry) -> bool:
        """Acknowledge ``entry`` here and now if its transaction has committed and the
        store's files are unchanged; return whether it did."""
        pending, transaction = entry.pending, entry.transaction
        if pending is None or transaction is None:
            return False
        seconds = pending.committed()
        if seconds is None or not self.store.verified():
            return False
        entry.settled = True
        self._acknowledged(entry.batch, {}, transaction.rows, seconds)
        self.counters.settled(time.monotonic() - entry.cut_at)
        return True

    def settle_committed(self) -> None:
        """Acknowledge here and now, oldest first, the entries whose transactions have
        committed (their outcome is out) while the store's files are unchanged, as
        :meth:`settle` would once it ran: a producer that does not yield keeps the
        settling task from running. Stops at the first entry not committed yet."""
        entries = self.entries
        settled = False
        while entries and not self._blocked and not entries[0].settling:
            entry = entries.popleft()
            if not self._settle_now(entry):
                entries.appendleft(entry)
                break
            settled = True
        if settled:
            self._notify()

    def fail(self, error: Exception) -> None:
        """Make the settling task raise ``error`` (a writer's bug met elsewhere)."""
        self.failure = error
        self._notify()

    def finish(self) -> None:
        self.finished = True
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def changed(self) -> None:
        """Wait until an entry is added or settled, or the pipeline is finished."""
        await self._changed.wait()

    async def wait_room(self) -> None:
        while not self.has_room():
            await self.changed()

    async def settle_all(self) -> None:
        """Settle entries as they come, until the pipeline is finished and empty."""
        while True:
            if self.failure is not None:
                raise self.failure
            if self.entries:
                await self.settle()
            elif self.finished:
                return
            else:
                await self.changed()

    # ------------------------------------------------------------------ settling

    async def settle(self) -> None:
        """Settle the oldest entry: acknowledge it once committed, or store it alone.

        :raises WriterError: on a fault that retrying will not fix, or a bug.
        """
        entry = self.entries[0]
        error = entry.error
        if entry.pending is not None:
            assert entry.transaction is not None
            # Shielded from its outcome to its acknowledgement: a committed batch is
            # always acknowledged (never committed again by the drain).
            with anyio.CancelScope(shield=True):
                try:
                    seconds = await entry.pending.outcome()
                except Exception as exc:
                    error = exc
                else:
                    if entry.settled:  # by settle_committed, meanwhile
                        return
                    entry.settling = True
                    await self.acknowledge(entry.batch, {}, entry.transaction.rows, seconds)
                    entry.settled = True
                    self.counters.settled(time.monotonic() - entry.cut_at)
                    self.entries.popleft()
                    self._notify()
                    await self.store.maintain()
                    return
        await self._store_head_alone(error)

    async def _store_head_alone(self, error: Exception | None) -> None:
        """The head failed (or was never submitted): store it alone, then plan the
        entries after it again (they were skipped, or never submitted)."""
        self._blocked = True
        head, *later = self.entries
        for entry in later:
            if entry.pending is not None:
                await self._skipped(entry.pending)
            entry.pending = entry.transaction = None
            entry.error = None
        await self._rescue.store(head.batch, error)
        self.entries.popleft()
        self._blocked = False
        # Those after it, and those received meanwhile: planned again, in order.
        waiting = list(self.entries)
        self.entries.clear()
        for entry in waiting:
            self.launch(entry.batch)
        self._notify()

    async def _skipped(self, pending: Pending) -> None:
        """Wait for a transaction submitted after one that failed: it is not run."""
        try:
            await pending.outcome()
        except Exception:
            return
        raise WriterError(
            f"writer {self.name!r}: a transaction committed after one before it failed; "
            "the writer stops rather than acknowledge out of order"
        )

    async def acknowledge(
        self,
        batch: list[Message],
        failed: dict[int, str],
        rows: Mapping[str, int],
        seconds: float | None,
    ) -> None:
        """Acknowledge ``batch``, committed (``failed``: seq -> why it is not stored).

        ``seconds``: how long its transaction took; None for dead letters, which do
        not count as a batch.
        """
        # A file deleted or replaced during the commit: what was just committed may be
        # in an unlinked file. Never acknowledge what the files may not keep.
        await self.store.verify(len(batch))
        self._acknowledged(batch, failed, rows, seconds)

    def _acknowledged(
        self,
        batch: list[Message],
        failed: dict[int, str],
        rows: Mapping[str, int],
        seconds: float | None,
    ) -> None:
        """Count and acknowledge ``batch``, committed and verified; call ``on_commit``."""
        if seconds is None:
            self.counters.add_rows(rows)
        else:
            self.counters.committed(len(batch), rows, seconds)
        self.subscription.ack(len(batch), failed=failed)
        if self.on_commit is not None:
            stored = [m for m in batch if m.seq not in failed] if failed else batch
            if stored:  # the dead letters were committed, not their events
                try:
                    self.on_commit(stored, time.monotonic())
                except Exception:
                    # The caller's hook, not the data: the batch is stored and
                    # acknowledged, and so is the next one already committing.
                    logger.exception("writer %s: on_commit raised; the writer goes on", self.name)

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> None:
        """After a cancellation: settle what was submitted, then hold every message
        received and not acknowledged as one entry, to be stored first."""
        while self.entries and self.entries[0].pending is not None and not self._blocked:
            await self.settle()
        self.entries.clear()
        self._blocked = False
        held = self.subscription.unacknowledged()
        if held:
            self.launch(held)
