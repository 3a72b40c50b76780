"""The writer options a node passes to each of its writers, with the writers' defaults.

The defaults are read from :class:`writers.WriterActor`'s signature, so that
``open_node`` and the writers never disagree on them.
"""

from __future__ import annotations

import inspect
from typing import Any, Final

from writers import Synchronous, WriterActor

__all__ = [
    "BUSY_TIMEOUT",
    "DRAIN_TIMEOUT",
    "MAX_BACKOFF",
    "MAX_BATCH",
    "MAX_BUFFER",
    "MAX_DELAY",
    "SWITCH_INTERVAL",
    "SYNCHRONOUS",
]

_SIGNATURE: Final = inspect.signature(WriterActor)


def _default(option: str) -> Any:
    """:class:`writers.WriterActor`'s default for its keyword ``option``."""
    parameter = _SIGNATURE.parameters[option]
    if parameter.default is inspect.Parameter.empty:  # pragma: no cover - a writer change
        raise LookupError(f"WriterActor's option {option!r} has no default")
    return parameter.default


MAX_BATCH: Final[int] = _default("max_batch")
MAX_DELAY: Final[float] = _default("max_delay")
SYNCHRONOUS: Final[Synchronous] = _default("synchronous")
MAX_BUFFER: Final[int] = _default("max_buffer")
BUSY_TIMEOUT: Final[float] = _default("busy_timeout")
MAX_BACKOFF: Final[float] = _default("max_backoff")
DRAIN_TIMEOUT: Final[float] = _default("drain_timeout")
SWITCH_INTERVAL: Final[float | None] = _default("switch_interval")
