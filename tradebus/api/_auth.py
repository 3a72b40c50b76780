"""The bearer token: who may call the API."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from ._context import ApiContext

__all__ = ["require_token", "require_token_for_reads"]


def _check(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    ctx: ApiContext = connection.app.state["ctx"]
    token = ctx.options.token
    if token is None:
        return
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise NotAuthorizedException(
            "this endpoint needs the API's bearer token: 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": 'Bearer realm="tradebus"'},
        )


async def require_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard: the request carries the token (when the server has one).

    Async, so Litestar runs it on the loop: a sync guard goes to the loop's
    thread pool, which is shut down while the server stops, and a request
    arriving then got a 500 instead of its answer.
    """
    _check(connection)


async def require_token_for_reads(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard for reads: the token, when the server asks it for reads too."""
    ctx: ApiContext = connection.app.state["ctx"]
    if ctx.options.auth_reads:
        _check(connection)
