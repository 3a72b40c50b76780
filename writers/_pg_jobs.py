"""The PostgreSQL store's queue of work: its transactions and reads, run one at a
time, in order, by one task (see :mod:`writers._pg_store`).

A failed transaction halts the ones queued behind it (of its generation: they were
planned after it, and are planned again). The job after the running one can be
looked at before it runs (so that a COMMIT can also begin the next transaction).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._exceptions import WriterError
from ._store import Skipped

__all__ = ["Job", "JobQueue"]


class Job:
    """One piece of work: ``function`` run by the queue's task; ``transaction`` says
    whether it runs a transaction (then it may start in one begun for it)."""

    __slots__ = ("done", "error", "function", "generation", "result", "seconds", "transaction")

    def __init__(
        self,
        function: Callable[[], Awaitable[Any]],
        generation: int | None,
        *,
        transaction: bool = False,
    ) -> None:
        self.function = function
        self.generation = generation
        self.transaction = transaction
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.result: Any = None
        self.seconds = 0.0


class JobQueue:
    """Jobs of one store (``target`` names it in messages), run by :meth:`serve`."""

    def __init__(self, target: str) -> None:
        self.target = target
        #: The generation of transactions submitted now; a failure moves it on.
        self.generation = 0
        self._halted: float = -1
        send, receive = anyio.create_memory_object_stream[Job](math.inf)
        self._send: MemoryObjectSendStream[Job] = send
        self._receive: MemoryObjectReceiveStream[Job] = receive
        self._ahead: Job | None = None  # the next job, taken off the queue early
        #: The job running now (None between jobs).
        self.running: Job | None = None
        self._serving = False
        self.stopped = anyio.Event()

    def submit(
        self,
        function: Callable[[], Awaitable[Any]],
        generation: int | None,
        *,
        transaction: bool = False,
    ) -> Job:
        """Queue ``function``; ``generation`` None for work no failure halts."""
        if self._halted == math.inf:
            raise WriterError(f"the writer of {self.target} is not open")
        job = Job(function, generation, transaction=transaction)
        self._send.send_nowait(job)
        return job

    async def wait(self, job: Job) -> Any:
        """Wait for ``job`` (not cut short by cancellation); its failure, reported
        here, ends the halt it caused."""
        with anyio.CancelScope(shield=True):
            await job.done.wait()
        if job.error is not None:
            if job.generation is not None and job.generation >= self.generation:
                self.generation = job.generation + 1
            raise job.error
        return job.result

    async def call(self, function: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``function`` between the transactions; its result. A caller cancelled
        meanwhile stops waiting (the function still runs, in its turn: a read)."""
        job = self.submit(function, None)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def next_is_transaction(self) -> bool:
        """Whether the job after the running one is a transaction that will run (it
        is taken off the queue, and runs next)."""
        if self._ahead is None:
            try:
                self._ahead = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                return False
        ahead = self._ahead
        return ahead.transaction and (ahead.generation is None or ahead.generation > self._halted)

    def halt(self) -> None:
        """Run nothing more: what is queued, and what is submitted from now on, fails."""
        self._halted = math.inf
        self._send.close()
        if not self._serving:  # never served (or not yet): nothing will be
            self._receive.close()
            self.stopped.set()

    async def serve(self) -> None:
        """Run the jobs in order until :meth:`halt`, whatever cancels the caller: a
        cancelled writer still commits what it holds (its drain), and a transaction
        being committed runs to its end, its outcome told."""
        if self.stopped.is_set():
            return
        self._serving = True
        try:
            with anyio.CancelScope(shield=True):
                while True:
                    job, self._ahead = self._ahead, None
                    if job is None:
                        try:
                            job = await self._receive.receive()
                        except anyio.EndOfStream:
                            break
                    await self._run(job)
        finally:
            # Stopped (or cancelled): what is queued is not run; whoever waits for
            # it is told.
            self._halted = math.inf
            while True:
                left, self._ahead = self._ahead, None
                if left is None:
                    try:
                        left = self._receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                left.error = WriterError(f"not run: the writer of {self.target} stopped")
                left.done.set()
            self._receive.close()
            self.stopped.set()

    async def _run(self, job: Job) -> None:
        if job.generation is not None and job.generation <= self._halted:
            job.error = Skipped(f"not run: a transaction before it in {self.target} failed")
            job.done.set()
            return
        started = time.perf_counter()
        self.running = job
        try:
            job.result = await job.function()
        except Exception as exc:
            job.error = exc
            if job.generation is not None:
                self._halted = job.generation
        finally:
            self.running = None
        job.seconds = time.perf_counter() - started
        job.done.set()
