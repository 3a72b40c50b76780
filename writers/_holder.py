"""Who holds a writer lock: the kernel's word, and what the holder recorded about itself.

``/proc/locks`` lists every flock with its holder's pid as this process sees it (0
when the holder is in a PID namespace this process cannot see) and the file's
inode: that is the truth about *who*. The lock file beside the database holds the
holder's own record (pid, role), which tells the *role*; it is written just after
the lock is taken, so a refused writer reads it again briefly until it agrees.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

from ._exceptions import WriterError
from ._fdpool import Identity
from ._files import open_regular_file

__all__ = ["Holder", "identify", "kernel_holders"]

_PROC_LOCKS = Path("/proc/locks")
_PATIENCE = 1.0  # seconds a refused writer waits for the holder's record to agree


class Holder(NamedTuple):
    """The holder of a lock: ``pid`` as this process sees it (None when it cannot)."""

    pid: int | None
    role: str | None
    description: str
    #: Whether the kernel listed it: a holder this process cannot see is not listed
    #: (nor is one that has just let go, so the lock is worth trying again).
    listed: bool = True


def kernel_holders(identity: Identity) -> list[int] | None:
    """Pids of the processes holding an exclusive flock on the file ``identity``.

    A pid is 0 when the holder is not visible from this PID namespace. None when this
    system does not list its locks.
    """
    try:
        text = _PROC_LOCKS.read_text()
    except OSError:
        return None
    dev, ino = identity
    exact: list[int] = []
    same_inode: list[int] = []
    for line in text.splitlines():
        fields = line.split()
        # "12: FLOCK  ADVISORY  WRITE 4711 fe:00:2147154 0 EOF"; waiters have "->".
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[3] != "WRITE":
            continue
        major, minor, inode = [*fields[5].split(":"), "", "", ""][:3]
        try:
            if int(inode) != ino:
                continue
            pid = int(fields[4])
            same = (int(major, 16), int(minor, 16)) == (os.major(dev), os.minor(dev))
        except ValueError:
            continue
        (exact if same else same_inode).append(max(pid, 0))
    # Some filesystems (overlays) report another device number than stat() does.
    return exact or same_inode


def identify(identity: Identity, lock_file: Path) -> Holder:
    """Who holds the flock on ``identity``, as truthfully as this process can tell."""
    deadline = time.monotonic() + _PATIENCE
    while True:
        pids = kernel_holders(identity)
        recorded_pid, role = _read_record(lock_file)
        named = f"{recorded_pid}" + (f", role {role!r}" if role else "")
        late = time.monotonic() >= deadline
        if pids is None:  # the kernel does not say: the record is all there is
            if recorded_pid is not None or late:
                if recorded_pid is None:
                    return Holder(None, None, "a process that has not recorded who it is")
                return Holder(
                    recorded_pid,
                    role,
                    f"pid {named} (as its lock file records; this system does not list "
                    "lock holders)",
                )
        elif pids and pids[0] > 0:
            pid = pids[0]
            here = " (this process)" if pid == os.getpid() else ""
            if recorded_pid == pid:
                notes = ["this process"] if here else []
                notes += [f"role {role!r}"] if role else []
                return Holder(pid, role, f"pid {pid}" + (f" ({', '.join(notes)})" if notes else ""))
            if late:
                record = (
                    f"; its lock file names pid {named}: a stale record, or a pid in "
                    "another PID namespace"
                    if recorded_pid is not None
                    else " (no role recorded)"
                )
                return Holder(pid, None, f"pid {pid}{here}{record}")
        elif recorded_pid is not None or late:
            # Listed with pid 0, or not listed: a holder in a PID namespace this one
            # cannot see (an older kernel lists it as 0, a newer one leaves it out).
            unseen = "a process this one cannot see (in another PID namespace?)"
            if recorded_pid is None:
                return Holder(None, None, f"{unseen}, which has not recorded who it is", bool(pids))
            return Holder(None, role, f"{unseen}; its lock file says pid {named}", bool(pids))
        time.sleep(0.01)


def _read_record(lock_file: Path) -> tuple[int | None, str | None]:
    try:
        fd = open_regular_file(lock_file, os.O_RDONLY, what="writer lock record")
    except (OSError, WriterError):  # missing, a link, unreadable: no record
        return None, None
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return None, None
    finally:
        os.close(fd)
    if not isinstance(data, dict):
        return None, None
    pid, role = data.get("pid"), data.get("role")
    return (
        pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        role if isinstance(role, str) else None,
    )
