"""Refusing SQLite in a child forked while this process's nodes used it.

A node's threads (its writers' SQLite threads, its readers' aiosqlite threads) may be
inside SQLite at any moment, holding one of SQLite's process-wide mutexes. A child
forked then inherits the mutex locked and none of the threads: its first SQLite call
may wait forever. Such a child is refused a node at once, with the way out.
"""

from __future__ import annotations

import os
import threading

from ._exceptions import TradebusError

__all__ = ["check_not_a_tainted_fork", "node_started", "node_stopped"]

_lock = threading.Lock()
_running = 0  # nodes started and not yet stopped in this process
_forked_from = 0  # the parent that ran nodes when this process was forked from it


def node_started() -> None:
    global _running
    with _lock:
        _running += 1


def node_stopped() -> None:
    global _running
    with _lock:
        _running = max(0, _running - 1)


def _after_fork_in_child() -> None:
    global _lock, _running, _forked_from
    _lock = threading.Lock()  # another thread may have held it at the fork
    if _running:
        _forked_from = os.getppid()
    _running = 0  # the parent's nodes run in the parent's threads


os.register_at_fork(after_in_child=_after_fork_in_child)


def check_not_a_tainted_fork() -> None:
    """:raises TradebusError: if this process was forked while nodes ran in its parent."""
    if _forked_from:
        raise TradebusError(
            f"this process is a fork of process {_forked_from}, which ran a tradebus node "
            "at the fork (its threads may have been inside SQLite, which cannot be used "
            "safely in such a child): start a new process instead (subprocess, or "
            "multiprocessing with the 'spawn' or 'forkserver' start method), or fork "
            "before any node starts"
        )
