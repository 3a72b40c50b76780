"""Why the intake refuses a request: the status, the text, and the field, the value
and what is allowed, as JSON."""

from __future__ import annotations

import reprlib
from typing import Any, Final

import msgspec
from litestar import Response

from .._exceptions import TradebusError

__all__ = ["IntakeError", "IntakeRefused", "refusal_response"]

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200
_short.maxdict = _short.maxlist = 4

#: The longest text value shown as itself in a refusal (longer ones are shortened).
_MAX_SHOWN: Final = 200


class IntakeRefused(TradebusError):
    """The intake refuses a request; nothing of it was stored.

    :param status_code: the HTTP status it answers with.
    :param field: the field at fault (``type``, ``symbol``, ...), if one is.
    :param value: the value at fault (shortened when long).
    :param allowed: what the field allows.
    :param item: the position of the event at fault in a list (0 is the first).
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        allowed: str | None = None,
        item: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field
        self.value = value
        self.allowed = allowed
        self.item = item


class IntakeError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The JSON of a refusal: Litestar's ``status_code`` and ``detail``, and ``error``
    (the same text), the ``field`` at fault, its ``value``, what it ``allowed``, and
    the ``item`` at fault in a list (0 is the first; absent for one event)."""

    status_code: int
    detail: str
    error: str
    field: str | None
    value: Any
    allowed: str | None
    item: int | None = None


def _shown(value: object) -> object:
    """``value`` as JSON shows it: itself when small and plain, else a short text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= _MAX_SHOWN:
        return value
    try:
        return _short.repr(value)
    except Exception:  # a hostile value must not hide the refusal
        return f"<{type(value).__name__}>"


def refusal_response(refused: IntakeRefused) -> Response[Any]:
    """The JSON answer to ``refused`` (an :class:`IntakeError`)."""
    body = IntakeError(
        status_code=refused.status_code,
        detail=str(refused),
        error=str(refused),
        field=refused.field,
        value=_shown(refused.value),
        allowed=refused.allowed,
        item=refused.item,
    )
    headers = {"WWW-Authenticate": 'Bearer realm="tradebus"'} if refused.status_code == 401 else {}
    return Response(
        msgspec.json.encode(body),
        status_code=refused.status_code,
        media_type="application/json",
        headers=headers,
    )
