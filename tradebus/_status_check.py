"""Whether a data directory's processes are healthy, from its status file."""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from ._status import ProcessStatus, StatusFile

__all__ = [
    "EXIT_LAGGING",
    "EXIT_OK",
    "EXIT_ROLE_MISSING",
    "LaggingRelay",
    "StatusCheck",
    "check_status",
]

#: Every role has a live process and no relay lags beyond the limit.
EXIT_OK = 0
#: At least one role has no live (``running``) process.
EXIT_ROLE_MISSING = 3
#: Every role is live, but a live process's relay lags beyond the limit.
EXIT_LAGGING = 4


class LaggingRelay(msgspec.Struct, frozen=True, kw_only=True):
    """A relay of a live process whose oldest pending event waited too long."""

    process: str
    relay: str
    pending: int
    lag_seconds: float


class StatusCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict of ``tradebus status`` (its ``--json`` output)."""

    #: When it was checked (ns since the epoch).
    checked: int
    #: The lag limit checked against (seconds).
    max_lag: float
    #: 0 (healthy), 3 (a role has no live process) or 4 (a relay lags too much).
    exit_code: int
    #: Every role (the topology's, then any other the file names) -> the id of its
    #: live process, or None when it has none.
    roles: dict[str, str | None]
    #: Relays of live processes lagging beyond ``max_lag``.
    lagging: list[LaggingRelay]
    #: The status file as read (stale rules applied).
    status: StatusFile


def check_status(status: StatusFile, roles: Iterable[str], *, max_lag: float) -> StatusCheck:
    """Check that every role of ``roles`` has a live process and no relay lags."""
    live = status.live()
    every_role = list(
        dict.fromkeys([*roles, *(r for p in status.processes.values() for r in p.roles)])
    )
    by_role: dict[str, str | None] = {role: _live_host(role, live) for role in every_role}
    lagging = [
        LaggingRelay(process=p.id, relay=key, pending=relay.pending, lag_seconds=relay.lag_seconds)
        for p in live
        for key, relay in p.relays.items()
        if relay.lag_seconds > max_lag
    ]
    if any(process is None for process in by_role.values()):
        code = EXIT_ROLE_MISSING
    elif lagging:
        code = EXIT_LAGGING
    else:
        code = EXIT_OK
    return StatusCheck(
        checked=time.time_ns(),
        max_lag=max_lag,
        exit_code=code,
        roles=by_role,
        lagging=lagging,
        status=status,
    )


def _live_host(role: str, live: list[ProcessStatus]) -> str | None:
    """The newest live process hosting ``role`` (one normally; two only briefly,
    while one that was replaced has not noticed yet)."""
    hosts = [p.id for p in live if role in p.roles]
    return hosts[-1] if hosts else None
