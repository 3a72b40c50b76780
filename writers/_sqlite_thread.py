"""The thread that owns a writer's SQLite connection: jobs run back to back, in order.

The event loop hands jobs over through a queue. The SQLite thread never waits for
the event loop, so it runs the next transaction while the loop plans the one after:
on asyncio it wakes the waiting task with ``loop.call_soon_threadsafe`` (a write to
the loop's wake-up pipe: a lone call pays no thread hop for its answer); on other
backends a worker thread waits on the job's ``threading.Event`` for the loop.

A transaction that fails halts the thread's transactions: every one submitted
before the failure was reported is skipped, not run (it was planned on the
assumption that the failed one committed).

A small job may also run in the caller's thread (:meth:`SqliteThread.run_inline`),
when the SQLite thread has nothing queued and is not running anything: a lone
transaction on an idle writer then costs no thread hop either way (two wake-ups of
sleeping threads, the larger part of its round trip on an idle machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

from ._store import Skipped

__all__ = ["Job", "SqliteThread"]

T = TypeVar("T")

logger = logging.getLogger("writers")


#: The ``done`` of every job run inline: it is finished before anyone sees it.
_FINISHED = threading.Event()
_FINISHED.set()


class Job(Generic[T]):
    """A call to run in the SQLite thread, and what it returned or raised."""

    __slots__ = ("done", "error", "function", "generation", "result", "seconds", "wake")

    def __init__(
        self, function: Callable[[], T], generation: int | None, *, inline: bool = False
    ) -> None:
        self.function = function
        #: None for jobs that always run; else the generation of a transaction.
        self.generation = generation
        self.done = _FINISHED if inline else threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        #: How the thread wakes the waiting task when done (asyncio), else None.
        self.wake: tuple[asyncio.AbstractEventLoop, anyio.Event] | None = None

    def finish(self) -> None:
        """Mark the job done (in the SQLite thread) and wake whoever waits for it."""
        if self.done is not _FINISHED:
            self.done.set()
        wake = self.wake
        if wake is not None:
            loop, event = wake
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(event.set)


class SqliteThread:
    """A dedicated thread running jobs from a queue; see the module's docstring."""

    def __init__(
        self,
        name: str,
        after_transaction: Callable[[], None] | None = None,
        *,
        housekeeping_due: Callable[[], bool] | None = None,
        before_job: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        #: Called in the thread after each transaction's outcome is out (housekeeping).
        self.after_transaction = after_transaction
        #: Whether housekeeping has anything to do now (a cheap look, from any thread):
        #: a transaction run inline hands it to the thread only then, so that an idle
        #: thread is not woken after every lone transaction for nothing.
        self.housekeeping_due = housekeeping_due
        #: Called in the thread before each job it runs (not before a job run inline).
        self.before_job = before_job
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: Held by whoever runs a job: the thread, or a caller running one inline.
        self._running = threading.Lock()
        #: Jobs queued so far (counted by the submitting thread only), and jobs the
        #: SQLite thread has finished (counted by it only): equal when it is idle.
        self._queued = 0
        self._finished = 0
        #: Likewise for transactions: submitted (event loop side), taken from the queue
        #: (thread side).
        self._transactions_submitted = 0
        self._transactions_taken = 0
        #: The generation stamped on transactions submitted now (event loop side).
        self.generation = 0
        self._halted = -1  # transactions of this generation or older are skipped (thread side)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        """Let the thread finish its queue and end; wait for it."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join)

    def transaction_queued(self) -> bool:
        """Whether a transaction waits in the queue (in the thread: to run after this)."""
        return self._transactions_submitted != self._transactions_taken

    def halt(self) -> None:
        """Skip every transaction submitted so far that has not started (a writer that
        stops on an error must not commit, unacknowledged, what it had queued)."""
        self._halted = max(self._halted, self.generation)

    def submit(self, function: Callable[[], T], *, transaction: bool = False) -> Job[T]:
        """Queue ``function``; a ``transaction`` is skipped while the thread is halted."""
        if self._thread is None:
            raise RuntimeError(f"{self.name} is not running")
        job = Job(function, self.generation if transaction else None)
        with contextlib.suppress(RuntimeError):  # not on asyncio: a worker thread waits
            job.wake = (asyncio.get_running_loop(), anyio.Event())
        self._queued += 1
        if transaction:
            self._transactions_submitted += 1
        self._jobs.put(job)
        return job

    def run_inline(self, function: Callable[[], T], *, transaction: bool = False) -> Job[T] | None:
        """Run ``function`` now, in this thread, if the SQLite thread has no job queued
        or running (so order is kept); return the finished job, or None (then
        :meth:`submit` it). Housekeeping after a transaction is left to the thread,
        when it is due."""
        if (
            self._thread is None
            or self._queued != self._finished
            or not self._running.acquire(blocking=False)
        ):
            return None
        try:
            job = Job(function, self.generation if transaction else None, inline=True)
            self._execute(job)
        finally:
            self._running.release()
        if (
            job.generation is not None
            and self.after_transaction is not None
            and (self.housekeeping_due is None or self.housekeeping_due())
        ):
            self._queued += 1
            self._jobs.put(Job(self._housekeeping, None))
        return job

    async def wait(self, job: Job[T]) -> T:
        """Wait for ``job`` (not cut short by cancellation); return what it returned.

        A transaction's failure, once reported here, ends the halt: transactions
        submitted from now on run.
        """
        if not job.done.is_set():
            with anyio.CancelScope(shield=True):
                if job.wake is not None:
                    await job.wake[1].wait()
                else:
                    await anyio.to_thread.run_sync(job.done.wait)
        if job.error is not None:
            if job.generation is not None and job.generation >= self.generation:
                self.generation = job.generation + 1
            raise job.error
        return job.result  # type: ignore[return-value]

    async def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` in the thread and return what it returns."""
        return await self.wait(self.submit(function))

    def _execute(self, job: Job[Any], *, finish: bool = True) -> None:
        """Run ``job`` (unless a failure halted its generation), and finish it."""
        if job.generation is not None and job.generation <= self._halted:
            job.error = Skipped(f"not run: a transaction before it in {self.name} failed")
        else:
            started = time.perf_counter()
            try:
                job.result = job.function()
            except BaseException as exc:
                job.error = exc
                if job.generation is not None:
                    self._halted = job.generation
            job.seconds = time.perf_counter() - started
        if finish:
            job.finish()

    def _housekeeping(self) -> None:
        if self.after_transaction is not None:
            try:
                self.after_transaction()
            except Exception:  # housekeeping: never the end of the thread
                logger.exception("%s: housekeeping failed", self.name)

    def _before(self, job: Job[Any]) -> None:
        if self.before_job is not None:
            try:
                self.before_job()
            except Exception:  # the job runs all the same, and says what is wrong
                logger.exception("%s: preparing for a job failed", self.name)

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            if job.generation is None:
                # Counted idle before its caller hears of it: what the caller does next
                # may then run inline at once.
                with self._running:
                    self._before(job)
                    self._execute(job, finish=False)
                    self._finished += 1
                job.finish()
                continue
            self._transactions_taken += 1
            with self._running:
                self._before(job)
                self._execute(job)
                self._housekeeping()
                self._finished += 1
