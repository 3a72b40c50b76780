"""The OpenAPI document at ``/api/v1/openapi.json`` and its interactive docs at
``/api/v1/docs``.

Litestar's own OpenAPI router answers every path under its own with an HTML 404
page; it sits at ``/api/v1/schema`` so that an unknown path of the API is the API's
JSON 404. These two routes serve its document and its docs where users look for them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.types import ControllerRouterHandler

from ._docs import SwaggerUiPage

__all__ = ["OPENAPI_HANDLERS", "OPENAPI_ROUTER_PATH"]

#: Where Litestar's OpenAPI router sits (its document is also at ``/openapi.json`` there).
OPENAPI_ROUTER_PATH = "/api/v1/schema"

_PAGE = SwaggerUiPage()


@get("/api/v1/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_document(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The API's OpenAPI 3.1 document."""
    schema = request.app.openapi_schema.to_schema()
    return Response(msgspec.json.encode(schema), media_type="application/json")


@get("/api/v1/docs", include_in_schema=False, sync_to_thread=False)
def docs_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The interactive docs (Swagger UI, from the package's files)."""
    schema = request.app.openapi_schema.to_schema()
    return Response(_PAGE.render(request, schema), media_type="text/html; charset=utf-8")


OPENAPI_HANDLERS: list[ControllerRouterHandler] = [openapi_document, docs_page]
