"""A transaction submitted to a store, as the job its runner (the SQLite thread, the
PostgreSQL store's queue) runs it: the :class:`~writers._store.Pending` of both stores.

Its failure, or its trial, makes the store plan again from the last committed
transaction; a failure that says the events cannot be stored is raised as
:class:`~writers._store.Poison`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from ._store import Poison

__all__ = ["PendingJob"]


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class _Job(Protocol):
    """What a runner's job tells: whether it is done, its error, how long it ran."""

    @property
    def done(self) -> _Flag: ...

    @property
    def error(self) -> BaseException | None: ...

    @property
    def seconds(self) -> float: ...


J = TypeVar("J", bound=_Job)


class PendingJob(Generic[J]):
    """``job``, a transaction (a ``trial`` one is rolled back), awaited by ``wait``;
    ``rewind`` makes the store plan from its last commit again; ``poison_of`` says
    why an error means the events cannot be stored (None: it does not)."""

    __slots__ = ("job", "poison_of", "rewind", "trial", "wait")

    def __init__(
        self,
        job: J,
        trial: bool,
        *,
        wait: Callable[[J], Awaitable[object]],
        rewind: Callable[[], None],
        poison_of: Callable[[BaseException], str | None],
    ) -> None:
        self.job = job
        self.trial = trial
        self.wait = wait
        self.rewind = rewind
        self.poison_of = poison_of

    def done(self) -> bool:
        return self.job.done.is_set()

    def committed(self) -> float | None:
        job = self.job
        if self.trial or not job.done.is_set() or job.error is not None:
            return None
        return job.seconds

    async def outcome(self) -> float:
        try:
            await self.wait(self.job)
        except Exception as exc:
            self.rewind()
            poison = self.poison_of(exc)
            if poison is not None:
                raise Poison(poison) from exc
            raise
        if self.trial:
            self.rewind()
        return self.job.seconds
