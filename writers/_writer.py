"""The generic writer: the only writer of one store, fed by the bus.

It knows no database: a :class:`~writers._store.Store` plans and runs its
transactions. The writer subscribes to the store's topics (durably: its
acknowledgement means "committed"), cuts batches by size and age, keeps a pipeline
of transactions in flight (:class:`~writers._pipeline.Pipeline`), and on stop
commits what it holds and what is buffered before it leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.lowlevel import cancel_shielded_checkpoint

from eventbus import BusClosed, EventBus, Message, Subscription

from ._exceptions import WriterError
from ._options import check_count, check_seconds
from ._pipeline import Pipeline
from ._store import Store
from ._writer_stats import Counters, WriterStatistics

__all__ = ["Writer"]

logger = logging.getLogger("writers")

_WATCH_FILES_EVERY = 0.1  # seconds an idle writer waits before it looks at its files again
# How late the batch timer may fire (s): the event loop's timers are rounded to whole
# milliseconds (asyncio's epoll wait), so a cut is planned that much early.
_TIMER_SLACK = 0.001


def _look_again(max_batch: int) -> int:
    """How many more events a publisher's call waits for before it looks again for
    room in a full pipeline."""
    return max(max_batch // 4, 256)


class Writer:
    """Consumes ``topics`` from the bus in batches into ``store``; see the module.

    Use as ``async with writer`` or start it in a task group with
    ``await tg.start(writer.run)``: it is ready once the store is open and it is
    subscribed.

    :param name: the writer's name in logs, statistics and its subscription's name.
    :param tables: the tables whose rows the statistics count (from zero).
    :param depth: how many transactions may be in flight at once (>= 1).
    Other parameters: see :class:`~writers.WriterActor`.
    """

    def __init__(
        self,
        bus: EventBus,
        store: Store,
        *,
        name: str,
        topics: Sequence[str],
        tables: Sequence[str] = (),
        max_batch: int = 5_000,
        max_delay: float = 0.05,
        max_buffer: int = 100_000,
        max_backoff: float = 2.0,
        drain_timeout: float = 30.0,
        on_commit: Callable[[list[Message], float], None] | None = None,
        depth: int = 2,
    ) -> None:
        check_count("max_batch", max_batch)
        check_seconds("max_delay", max_delay)
        check_count("max_buffer", max_buffer)
        check_seconds("max_backoff", max_backoff, positive=True)
        check_seconds("drain_timeout", drain_timeout)
        check_count("depth", depth)
        self.bus = bus
        self.store = store
        self.name = name
        self.topics = tuple(topics)
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.max_buffer = max_buffer
        self.max_backoff = max_backoff
        self.drain_timeout = drain_timeout
        self.on_commit = on_commit
        self.depth = depth
        self.counters = Counters(tables)
        self._subscription: Subscription | None = None
        self._pipeline: Pipeline | None = None  # while it consumes (not while it drains)
        self._scope: anyio.CancelScope | None = None
        self._task_group: TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self.run)
        except BaseException:
            # run() has ended (start() waits for it). Close the now empty task group
            # without handing it the error, so that the caller gets WriterLockError
            # itself rather than an exception group around it.
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        assert self._task_group is not None
        try:
            await self._task_group.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    def stop(self) -> None:
        """Ask the writer to commit what it holds and buffers, then exit (within
        ``drain_timeout``)."""
        self._pipeline = None
        if self._scope is not None:
            self._scope.cancel()
        self.stopping()

    def stopping(self) -> None:
        """The writer is stopping (its bus closed, or :meth:`stop`): what its store
        still runs must end within ``drain_timeout`` from now."""
        self.store.stop_by(anyio.current_time() + self.drain_timeout)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the store, then write until stopped.

        :raises WriterError: if the store cannot be opened or written (a
            WriterLockError at once if another writer holds it).
        """
        await self.store.open()
        try:
            await self._run_open(task_status)
        finally:
            with anyio.CancelScope(shield=True):
                await self.store.close()

    async def _run_open(self, task_status: TaskStatus[None]) -> None:
        subscription = self._subscription = self.bus.subscribe(
            list(self.topics),
            max_buffer=self.subscription_buffer(),
            durable=True,
            name=f"writer:{self.name}",
        )
        pipeline = Pipeline(
            self.store,
            subscription,
            self.counters,
            name=self.name,
            depth=self.depth,
            max_backoff=self.max_backoff,
            on_commit=self.on_commit,
        )
        failure: Exception | None = None
        try:
            with anyio.CancelScope() as self._scope:
                task_status.started()
                try:
                    await self._consume(subscription, pipeline)
                except Exception as exc:
                    failure = exc  # nothing more is committed: no drain
                    raise
                finally:
                    if failure is None:
                        self.stopping()
                        try:
                            deadline = anyio.current_time() + self.drain_timeout
                            with anyio.move_on_after(self.drain_timeout, shield=True):
                                await self._drain(subscription, pipeline, deadline)
                        except Exception as exc:
                            failure = exc
                            raise
                        finally:
                            self._report_undrained(subscription)
        finally:
            # What it holds unacknowledged is abandoned: whoever waits for it, and
            # every later flush, raises (with the writer's error as the cause).
            subscription.close(error=failure)

    async def _consume(self, subscription: Subscription, pipeline: Pipeline) -> None:
        """Receive and launch batches in one task, settle them in order in this one;
        meanwhile, let a waiter store what it waits for while the pipeline is idle."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._feed, subscription, pipeline)
                self._pipeline = pipeline
                subscription.assist = self._assist
                self._arm(subscription, self.max_batch)
                try:
                    await pipeline.settle_all()
                finally:
                    subscription.assist = None
                    subscription.call_when_buffered(1, None)
                    self._pipeline = None
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    def _assist(self) -> None:
        """Called by a waiter of a buffered message (``Subscription.assist``): if the
        writer is idle (nothing in its pipeline), take what is buffered as the next
        batch, in the waiter's task, and commit it there when the store can at once (a
        small transaction, the SQLite thread idle): the waiter's event is then
        committed and acknowledged without a hop to the writer's tasks and back, as a
        lone call's is. Otherwise the batch is submitted as the writer's own task would
        have; it is settled in its turn.

        The waiter would have cut the batch here anyway (a receiver takes what is
        buffered at once when someone waits for it), so the batches are the ones the
        writer's own task would take.
        """
        pipeline, subscription = self._pipeline, self._subscription
        if pipeline is None or subscription is None or not pipeline.idle():
            return
        try:
            batch = subscription.receive_batch_nowait(self.max_batch)
        except BusClosed:
            return
        if batch:
            pipeline.express(batch)

    def _batch_ready(self) -> None:
        """Called in a publisher's call when a batch's worth is buffered
        (``Subscription.call_when_buffered``): acknowledge what has committed, and
        launch the batch if the pipeline has room, as the writer's tasks would once
        they ran. A producer that never yields (a replay, a burst) keeps them from
        running until the buffer is full; the SQLite thread would wait meanwhile.

        Only whole batches are taken here (a partial one is cut by age, by the
        writer's task). Armed again for the next batch, or, while a batch is left
        for want of room, for a quarter of a batch more, and never fewer than 256
        events (then it looks again whether a commit has made room; with small
        batches, looking at every publish would slow the producers down).
        """
        pipeline, subscription = self._pipeline, self._subscription
        if pipeline is None or subscription is None or subscription.closed:
            return
        max_batch = self.max_batch
        try:
            pipeline.settle_committed()
            buffered = subscription.statistics().buffered
            while buffered >= max_batch and pipeline.may_take():
                pipeline.launch(subscription.receive_batch_nowait(max_batch))
                buffered = subscription.statistics().buffered
        except Exception as exc:  # a bug: not the publisher's to hear of; the writer stops
            error = WriterError(f"writer {self.name!r}: handing on a batch failed: {exc!r}")
            error.__cause__ = exc
            pipeline.fail(error)
            return
        again = max_batch if buffered < max_batch else buffered + _look_again(max_batch)
        self._arm(subscription, again)

    def _arm(self, subscription: Subscription, count: int) -> None:
        """Have :meth:`_batch_ready` called when ``count`` events are buffered (at most
        a full buffer), for a store whose transactions run while the event loop is
        busy (in a thread of its own): another one's need the loop, which a producer
        that never yields keeps busy."""
        if self.store.runs_off_loop and self.max_batch <= subscription.max_buffer:
            subscription.call_when_buffered(min(count, subscription.max_buffer), self._batch_ready)

    async def _feed(self, subscription: Subscription, pipeline: Pipeline) -> None:
        while True:
            await pipeline.wait_room()
            batch: list[Message] | None = None
            # Only the wait is cut short (a batch not yet taken stays buffered, and its
            # age counts from its first publish), never a commit.
            pipeline.reserved = True
            try:
                with anyio.move_on_after(_WATCH_FILES_EVERY):
                    batch = await subscription.receive_batch(self.max_batch, self._cut_after())
            except BusClosed:
                pipeline.finish()
                return
            finally:
                pipeline.reserved = False
            if batch is not None:
                pipeline.launch(batch)
                # Armed afresh: while there was no room, publishes put it off further.
                self._arm(subscription, self.max_batch)
            elif not pipeline.entries:
                # An idle writer still watches its files: a -wal deleted between two
                # batches holds what was acknowledged before; copy it back in time.
                await self.store.verify(0)

    def subscription_buffer(self) -> int:
        """The size of the writer's buffer in the bus: ``max_buffer`` less the batches
        it may hold in flight besides the one being committed, since those wait for
        it too (publishers are held back as much as with one batch in flight); never
        less than a batch, or than ``max_buffer`` if that is smaller.
        """
        extra = (self.depth - 1) * self.max_batch
        return max(self.max_buffer - extra, min(self.max_buffer, self.max_batch))

    def _cut_after(self) -> float:
        """How long the oldest pending event may wait before the batch is cut.

        ``max_delay`` less what a batch takes from its cut to its acknowledgement (a
        moving average of the recent batches: planning, the wait behind the
        transaction in flight, the commit, plus the average deviation from it, as TCP
        allows for a round trip) and the event loop's timer slack, so that an event is
        committed within about ``max_delay`` of its publish, not ``max_delay`` plus a
        commit; never less than half of it, so batches stay batches when commits are
        slow. Until a batch has been acknowledged nothing is known: half of it.
        """
        counters = self.counters
        if not counters.settled_batches:
            return self.max_delay / 2
        expected = counters.cut_to_ack + counters.cut_to_ack_deviation + _TIMER_SLACK
        return max(self.max_delay - expected, self.max_delay / 2)

    async def _drain(self, subscription: Subscription, pipeline: Pipeline, deadline: float) -> None:
        """Commit what was received but not yet acknowledged, then what is buffered,
        taking no new batch after ``deadline`` (what is in flight is settled).

        The deadline is looked at here, not left to the caller's timeout alone: that
        timeout lands only where the drain awaits, and settling a batch committed
        inline awaits nothing (an ``on_commit`` that publishes to this writer, or a
        producer as fast as the drain, would keep it going for ever).
        """
        await pipeline.recover()
        while True:
            while pipeline.has_room() and anyio.current_time() < deadline:
                try:
                    batch = subscription.receive_batch_nowait(self.max_batch)
                except BusClosed:
                    batch = []
                if not batch:
                    break
                pipeline.launch(batch)
            if not pipeline.entries:
                return
            await pipeline.settle()
            await cancel_shielded_checkpoint()  # other tasks run meanwhile

    def _report_undrained(self, subscription: Subscription) -> None:
        stats = subscription.statistics()
        left = stats.buffered + stats.in_flight
        if left and not subscription.closed:
            logger.error(
                "writer %s: %d events could not be committed before shutdown (%s)",
                self.name,
                left,
                self.counters.last_error or "drain timed out",
            )

    # ------------------------------------------------------------------ inspection

    def statistics(self) -> WriterStatistics:
        """Return the writer's counters."""
        pending = 0
        if self._subscription is not None:
            held = self._subscription.statistics()
            pending = held.buffered + held.in_flight
        return self.counters.statistics(self.name, self.store.target, pending, self.store.backlog())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.store.target!r}>"
