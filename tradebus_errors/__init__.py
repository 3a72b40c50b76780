"""The root of every error tradebus raises, in one place every package can import.

``schemas``, ``eventbus``, ``writers`` and ``tradebus`` each draw their own exception
tree (in their ``_exceptions.py``); every tree hangs under :class:`TradebusError`, so
that ``except TradebusError`` catches whatever tradebus refuses or cannot do, and
nothing else. It lives in a package of its own, with no imports, because the
packages below ``tradebus`` (``schemas``, ``eventbus``, ``writers``) must not depend on
``tradebus``: they import this package. Users import it from ``tradebus``.
"""

from __future__ import annotations

__all__ = ["TradebusError"]


class TradebusError(Exception):
    """Base class of every error tradebus raises (bus, writers, schemas, application)."""
