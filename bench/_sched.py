"""Whether other work disturbed a timed run: each thread's run-queue wait, and the load.

Linux keeps, per thread, the nanoseconds it spent waiting on a run queue for a CPU
(the second field of ``/proc/self/task/<tid>/schedstat``). A thread of a run that
waits there is ready to run while the CPUs do something else: other processes, or
more of this process's threads than there are CPUs. Waiting for the GIL, for a
lock or for I/O is sleeping, not run-queue wait. The sum over every thread, as a
share of the run's wall time, says how much the rest of the machine got in the way.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DISTURBED_SHARE",
    "Disturbance",
    "RunQueueProbe",
    "load_average",
    "thread_cpu_clock",
]

#: A run is marked disturbed when its threads waited on a run queue for more than
#: this share of its wall time.
DISTURBED_SHARE: Final = 0.10

_TASKS: Final = Path("/proc/self/task")


def _waits_ns() -> dict[int, int] | None:
    """Run-queue wait (ns) of every thread of this process; None where Linux says nothing."""
    try:
        entries = list(_TASKS.iterdir())
    except OSError:
        return None
    waits: dict[int, int] = {}
    for entry in entries:
        try:
            fields = (entry / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        if len(fields) >= 2:
            waits[int(entry.name)] = int(fields[1])
    return waits or None


def load_average() -> float | None:
    """The one-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Disturbance:
    """How much the machine got in the way of one timed run."""

    wall_s: float
    #: Run-queue wait of every thread of this process during the run (None: unknown).
    wait_s: float | None
    #: The one-minute load average when the run ended.
    load1: float | None

    @property
    def share(self) -> float | None:
        if self.wait_s is None or self.wall_s <= 0:
            return None
        return self.wait_s / self.wall_s

    @property
    def disturbed(self) -> bool:
        share = self.share
        return share is not None and share > DISTURBED_SHARE

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "run_queue_wait_s": self.wait_s,
            "run_queue_share": self.share,
            "load1": self.load1,
            "disturbed": self.disturbed,
        }


class RunQueueProbe:
    """Snapshot the threads' run-queue wait before a run; :meth:`stop` after it.

    A thread started during the run counts from zero (it waited nothing before it
    existed); a thread that ended during the run loses what it waited.
    """

    def __init__(self) -> None:
        self._before = _waits_ns()

    def stop(self, wall_s: float) -> Disturbance:
        after = _waits_ns()
        wait_s = None
        if self._before is not None and after is not None:
            before = self._before
            wait_ns = sum(max(0, ns - before.get(tid, 0)) for tid, ns in after.items())
            wait_s = wait_ns / 1e9
        return Disturbance(wall_s=wall_s, wait_s=wait_s, load1=load_average())


def thread_cpu_clock(name: str) -> Callable[[], float] | None:
    """A function reading the CPU seconds of this process's one live thread ``name``.

    None when no thread, or more than one, has that name, or when the platform has no
    per-thread CPU clock. Read it only while the thread runs: its clock ends with it.
    """
    found = [thread for thread in threading.enumerate() if thread.name == name]
    if len(found) != 1 or found[0].ident is None:
        return None
    try:
        clock = time.pthread_getcpuclockid(found[0].ident)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return None
    return functools.partial(time.clock_gettime, clock)
