"""The errors of ``tradebus``.

Exception tree::

    TradebusError        anything the application layer refuses
    ├── AccessDenied     this node does not host the role that owns that database
    └── NoRoute          no writer in this node stores the event (nothing enqueued)
"""

from __future__ import annotations

__all__ = ["AccessDenied", "NoRoute", "TradebusError"]


class TradebusError(Exception):
    """Base class of every error of the application layer."""


class AccessDenied(TradebusError, PermissionError):
    """A node may write only the databases of the roles it hosts."""


class NoRoute(TradebusError, LookupError):
    """A persistent event has no writer to take it in this node; it was not enqueued."""
