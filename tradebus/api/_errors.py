"""What a client sees of an error: never a traceback nor an internal message.

A client error (4xx) answers Litestar's ``{"status_code": N, "detail": "..."}`` (with
``extra`` for a validation error: the parameters at fault, each with the value
given). An unexpected exception answers ``{"status_code": 500, "detail": "internal
error"}`` and is logged, with its traceback, in the server's log. A 5xx the server
raises on purpose (503, ...) keeps its detail and headers.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

__all__ = ["error_handlers"]

logger = logging.getLogger("tradebus.api")

#: The longest value of a parameter quoted back in an error.
_SHOWN = 80


def error_handlers() -> ExceptionHandlersMap:
    """The exception handlers of the API (``Litestar(exception_handlers=...)``)."""
    return {Exception: _handle}


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException) and exc.status_code != 500:
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": _detail(request, exc)}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(
            body,
            status_code=exc.status_code,
            headers=exc.headers,
            media_type=MediaType.JSON,
        )
    logger.error(
        "api: %s %s failed with an internal error",
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return Response(
        {"status_code": 500, "detail": "internal error"},
        status_code=500,
        media_type=MediaType.JSON,
    )


def _detail(request: Request[Any, Any, Any], exc: HTTPException) -> str:
    """The detail of a validation error names each parameter, its value and what was
    wrong with it (Litestar's own says only which request failed)."""
    if not isinstance(exc, ValidationException) or not isinstance(exc.extra, list):
        return exc.detail
    if not exc.detail.startswith("Validation failed for "):
        return exc.detail  # ours: it says so already
    parts = []
    for item in exc.extra:
        if not isinstance(item, dict) or "key" not in item:
            continue
        source_of = item.get("source", "")
        key, source = str(item["key"]), str(getattr(source_of, "value", source_of))
        given = _given(request, key, source)
        shown = "" if given is None else f" = {given!r}"
        where = f"{source} parameter" if source else "parameter"
        parts.append(f"{where} {key!r}{shown}: {item.get('message', 'not valid')}")
    return "; ".join(parts) if parts else exc.detail


def _given(request: Request[Any, Any, Any], key: str, source: str) -> str | None:
    value: Any = None
    if source == "query":
        value = request.query_params.get(key)
    elif source == "path":
        value = request.path_params.get(key)
    elif source == "header":
        value = request.headers.get(key)
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
