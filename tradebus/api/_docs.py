"""The interactive documentation of the API (served from the package: no CDN)."""

from __future__ import annotations

from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin

__all__ = ["docs_plugins"]


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    """The OpenAPI render plugins: where ``/api/v1/docs`` takes its page from."""
    return [SwaggerRenderPlugin(path="/docs")]
