"""The schema of ``shared_memory.json``, the processes' status file, and its rules.

One file per data directory, ``DATA/shared_memory.json``: every process that runs a
node (a role process, or a client hosting no role) keeps its own entry there, keyed
by its id ``"host:pid:started"``, and rewrites it every heartbeat (see
:class:`~tradebus.StatusReporter`). Readers (``tradebus status``, ``tradebus up``,
:func:`~tradebus.read_status`) never write it.

Times are wall-clock nanoseconds since the Unix epoch (``time.time_ns()``); the
durations are seconds. Readers ignore fields they do not know: fields may be added
without a new ``version``; the version changes only when an old reader would
misread the file, and a reader refuses a file newer than it knows.

Stale rules (applied by every reader, and persisted by every writer):

- an entry that is ``running`` or ``stopping`` is marked ``dead`` when its process
  is gone (same host, and no process ``pid`` or only a zombie), or when its
  heartbeat is older than its ``stale_after`` (``max(STALE_AFTER, 3 x interval)``,
  5 s for the default 1 s beat: this also covers processes of other hosts, a
  frozen process, and a pid reused by another program);
- entries are never dropped silently: ``dead`` and ``stopped`` entries stay, but at
  most :data:`MAX_ENDED` of them: beyond that the ones whose heartbeat is oldest
  are dropped first.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

__all__ = [
    "MAX_ENDED",
    "SCHEMA_VERSION",
    "STALE_AFTER",
    "STATUS_FILENAME",
    "ProcessState",
    "ProcessStatus",
    "RelayLag",
    "StatusFile",
    "WriterHealth",
    "apply_stale_rules",
    "is_live",
    "pid_alive",
    "this_host",
]

#: The file's name in the data directory (the original system's name).
STATUS_FILENAME = "shared_memory.json"
#: The schema version this tradebus writes and reads (it refuses newer files).
SCHEMA_VERSION = 1
#: The least time (seconds) without a heartbeat after which a process is ``dead``.
STALE_AFTER = 5.0
#: How many ended (``dead`` or ``stopped``) entries the file keeps at most.
MAX_ENDED = 32

ProcessState = Literal["running", "stopping", "stopped", "dead"]
WriterState = Literal["ok", "retrying"]


class RelayLag(msgspec.Struct, frozen=True, kw_only=True):
    """One relay of a process: a source's outbox delivered into one of its databases."""

    #: The source's file, relative to the data directory (``analysis_data.db``).
    source: str
    #: The database the relay commits into (``main``, ``analysis``, ``logs``).
    database: str
    #: Events of the source not committed yet, as last seen.
    pending: int
    #: How long the oldest of them has waited (seconds; 0.0 when none).
    lag_seconds: float
    #: Events delivered by this relay since its process started.
    delivered: int
    #: The last outbox position committed.
    cursor: int


class WriterHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One writer (database) of a process."""

    #: ``ok``, or ``retrying`` while its last attempt failed and it backs off.
    state: WriterState
    #: Events committed since the process started.
    events: int
    #: Rows written since the process started (all tables).
    rows: int
    #: Events waiting for it or being written (its queue depth).
    pending: int
    #: Transient failures retried since the process started.
    retries: int
    #: Events refused as unstorable, kept in ``dead_letters``.
    dead_letters: int
    #: The error of its last failed attempt (None after a success).
    last_error: str | None
    #: Rows deleted by retention since the process started (all tables).
    pruned: int = 0


class ProcessStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One process's entry."""

    #: ``"host:pid:started"``: unique per run of a node.
    id: str
    #: The roles it hosts (empty: a client node).
    roles: tuple[str, ...]
    pid: int
    host: str
    #: When the node started, and its latest heartbeat (ns since the epoch).
    started: int
    heartbeat: int
    #: ``running``; ``stopping`` while it drains; ``stopped`` (it said so on exit);
    #: ``dead`` (a reader found it gone or silent, see ``dead_reason``).
    state: ProcessState
    #: Seconds between heartbeats, and without one after which it counts as dead.
    interval: float
    stale_after: float
    #: Events committed and rows written by all its writers since it started.
    events_written: int
    rows_written: int
    #: Events waiting per database it writes (name -> count).
    queue_depth: dict[str, int]
    #: Its relays, keyed ``"<source> -> <database>"``.
    relays: dict[str, RelayLag]
    #: Its writers, keyed by database name.
    writers: dict[str, WriterHealth]
    #: The most recent error it reports (a writer's, or what ended it), or None.
    last_error: str | None
    #: Why a reader marked it dead (None unless ``state == "dead"``).
    dead_reason: str | None = None
    #: The address of the HTTP API it serves (``http://127.0.0.1:8080``), or None.
    http: str | None = None


class StatusFile(msgspec.Struct, frozen=True, kw_only=True):
    """The whole file: the schema version, when it was last written (ns), the entries."""

    version: int = SCHEMA_VERSION
    updated: int = 0
    processes: dict[str, ProcessStatus] = msgspec.field(default_factory=dict)

    def live(self) -> list[ProcessStatus]:
        """The entries whose process runs (state ``running``), oldest first."""
        return sorted(
            (p for p in self.processes.values() if p.state == "running"),
            key=lambda p: p.started,
        )


def this_host() -> str:
    """The host name written into entries (the pid check applies to these only)."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: existence is all we can tell
    # "pid (comm) state ...": comm may contain spaces or parentheses.
    state = stat.rpartition(")")[2].split()[:1]
    return state not in (["Z"], ["X"])


def is_live(entry: ProcessStatus) -> bool:
    """Whether ``entry`` still claims its process runs (not ended)."""
    return entry.state in ("running", "stopping")


def apply_stale_rules(
    processes: Mapping[str, ProcessStatus], *, now: int, host: str, keep: str | None = None
) -> dict[str, ProcessStatus]:
    """Mark gone or silent processes ``dead``; keep at most :data:`MAX_ENDED` ended ones.

    ``keep`` (the caller's own id) is neither marked nor dropped.
    """
    marked: dict[str, ProcessStatus] = {}
    for key, entry in processes.items():
        reason = None if key == keep else _dead_reason(entry, now=now, host=host)
        marked[key] = (
            entry if reason is None else msgspec.structs.replace(
                entry, state="dead", dead_reason=reason
            )
        )  # fmt: skip
    ended = sorted(
        (key for key, entry in marked.items() if not is_live(entry) and key != keep),
        key=lambda key: (marked[key].heartbeat, key),
    )
    for key in ended[: max(0, len(ended) - MAX_ENDED)]:
        del marked[key]
    return marked


def _dead_reason(entry: ProcessStatus, *, now: int, host: str) -> str | None:
    if not is_live(entry):
        return None
    if entry.host == host and not pid_alive(entry.pid):
        return f"process {entry.pid} is gone"
    silent = (now - entry.heartbeat) / 1e9
    if silent > entry.stale_after:
        return f"no heartbeat for {silent:.1f}s (more than {entry.stale_after:g}s)"
    return None
