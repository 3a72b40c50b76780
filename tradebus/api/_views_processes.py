"""What the processes endpoint answers: the status file's processes, with their
relays and writers."""

from __future__ import annotations

from typing import Literal

from ._views_base import Iso, Ns, View

__all__ = ["ProcessList", "ProcessView", "RelayView", "WriterView"]


class RelayView(View, frozen=True, kw_only=True):
    """A relay of a process: a source's outbox delivered into one of its databases."""

    source: str
    database: str
    pending: int
    lag_seconds: float
    delivered: int
    cursor: int


class WriterView(View, frozen=True, kw_only=True):
    """A writer (database) of a process."""

    state: str
    events: int
    rows: int
    pending: int
    retries: int
    dead_letters: int
    last_error: str | None
    #: Rows retention deleted since the process started.
    pruned: int = 0


class ProcessView(View, frozen=True, kw_only=True):
    """A process of the data directory, from the status file (``heartbeat_age``:
    seconds since its latest heartbeat, as of this answer)."""

    id: str
    roles: list[str]
    pid: int
    host: str
    state: Literal["running", "stopping", "stopped", "dead"]
    started: Ns
    started_at: Iso
    heartbeat: Ns
    heartbeat_at: Iso
    heartbeat_age: float
    interval: float
    stale_after: float
    events_written: int
    rows_written: int
    queue_depth: dict[str, int]
    relays: dict[str, RelayView]
    writers: dict[str, WriterView]
    last_error: str | None
    dead_reason: str | None
    #: The address of the HTTP API it serves, or null.
    http: str | None


class ProcessList(View, frozen=True, kw_only=True):
    """The status file: when it was last written (0 and no items: no process ever
    ran in the data directory), and its processes (oldest first)."""

    updated: Ns
    updated_at: Iso
    items: list[ProcessView]
