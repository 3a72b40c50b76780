"""The errors of ``schemas``.

Exception tree (under tradebus's root, ``TradebusError``; also a ``ValueError``)::

    TradebusError, ValueError
    └── InvalidEvent      an event, or the data for one, is not valid
"""

from __future__ import annotations

import pickle
import reprlib
from typing import Any

from tradebus_errors import TradebusError

__all__ = ["InvalidEvent"]


class InvalidEvent(TradebusError, ValueError):
    """An event (or the data meant to become one) failed validation.

    The message names the event type, the field and the offending value; the same
    facts are available as attributes for programs.
    """

    def __init__(self, event_type: str, field: str | None, value: Any, reason: str) -> None:
        self.event_type = event_type
        self.field = field
        self.value = value
        self.reason = reason
        where = f"{event_type}.{field}" if field else event_type
        shown = _short_repr(value)
        super().__init__(f"invalid {where}: {reason} (got {shown})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.event_type, self.field, _picklable(self.value), self.reason))


# Bounded: a hostile value (a payload of a gigabyte) is never rendered whole.
_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxdict = _repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = 4
_repr.maxstring = _repr.maxlong = _repr.maxother = 100


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        if isinstance(value, str | bytes) and len(value) > limit:
            kind = "chars" if isinstance(value, str) else "bytes"
            return f"{value[: limit - 15]!r}...<{len(value)} {kind}>"
        if isinstance(value, dict | list | tuple | set | frozenset):
            text = _repr.repr(value)
        else:
            text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<unprintable {type(value).__name__}>"
    if len(text) > limit:
        text = f"{text[: limit - 15]}...<{len(text)} chars>"
    return text


def _picklable(value: Any) -> Any:
    """``value``, or its repr when it cannot be pickled (the error crosses processes
    whole even when the value it names cannot)."""
    try:
        pickle.dumps(value)
    except Exception:
        return _short_repr(value)
    return value
