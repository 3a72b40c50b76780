"""The interactive documentation of the API at ``/api/v1/docs``: Swagger UI, served
from the package (``static/vendor/swagger-ui``, Apache-2.0, its license alongside), so
that the page needs no network access beyond its own server.

The page's own script (``static/docs/docs.js``) starts Swagger UI on the OpenAPI
document, without the public validator, and sends the bearer token kept for the tab
(the dashboard's, or the one entered in the page's bar) with every "Try it out" call.
"""

from __future__ import annotations

import html
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

__all__ = ["DOCS_PATH", "SwaggerUiPage", "docs_plugins"]

#: Where the docs are, under the OpenAPI path (``/api/v1``).
DOCS_PATH = "/docs"

_VENDOR = "/static/vendor/swagger-ui"


class SwaggerUiPage(OpenAPIRenderPlugin):
    """Swagger UI from the package's files (Litestar's own plugin loads it from a CDN)."""

    def __init__(self, *, path: str = DOCS_PATH) -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        version = html.escape(str(openapi_schema.get("info", {}).get("version", "")))
        spec = html.escape(root + self.get_openapi_json_route(request))
        static = html.escape(root + "/static")
        page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API {version}</title>
  <link rel="icon" href="{static}/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{html.escape(root + _VENDOR)}/swagger-ui.css">
  <link rel="stylesheet" href="{static}/docs/docs.css">
</head>
<body>
  <header class="docs-bar">
    <a class="docs-brand" href="{html.escape(root or "")}/">
      <img src="{static}/favicon.svg" alt="" width="20" height="20"> {title}</a>
    <span class="docs-title">API {version}</span>
    <a class="docs-link" href="{spec}">openapi.json</a>
    <span class="docs-spacer"></span>
    <form id="docs-token" class="docs-token" autocomplete="off">
      <label for="docs-token-input">Bearer token for "Try it out"</label>
      <input id="docs-token-input" type="password" spellcheck="false" placeholder="none">
      <button type="submit">Use</button>
      <button type="button" id="docs-token-clear">Forget</button>
      <span id="docs-token-state" class="docs-token-state"></span>
    </form>
  </header>
  <div id="swagger-ui" data-spec="{spec}"></div>
  <script src="{html.escape(root + _VENDOR)}/swagger-ui-bundle.js"></script>
  <script src="{static}/docs/docs.js"></script>
</body>
</html>
"""
        return page.encode()


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    """The OpenAPI render plugins: where ``/api/v1/docs`` takes its page from."""
    return [SwaggerUiPage()]
