"""Quiet the node's report of a writer refused its lock, where that is expected.

A command that tries to host a role and, if its process runs, goes through an
outbox instead (the tick import, the candles rebuild) expects the refusal: the
node's ``writer ... failed: ... already has a writer ...`` error would tell the user
something failed when nothing did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from writers import WriterLockError

__all__ = ["expected_lock_refusal"]


class _LockRefusal(logging.Filter):
    """Drops a record about a writer refused its database's lock."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, WriterLockError) for arg in args)


@contextmanager
def expected_lock_refusal() -> Iterator[None]:
    """While open, the ``tradebus`` logger drops its records of a writer refused its
    lock (the caller catches the :class:`~writers.WriterLockError` and goes on)."""
    quiet = _LockRefusal()
    logger = logging.getLogger("tradebus")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
