"""The ASGI application: every route of the API, its OpenAPI document, its errors."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from ._context import ApiContext
from ._dashboard import DASHBOARD_HANDLERS
from ._docs import docs_plugins
from ._errors import error_handlers
from ._intake import INTAKE_HANDLERS
from ._metrics import METRICS_HANDLERS, metrics_middleware
from ._openapi_routes import OPENAPI_HANDLERS, OPENAPI_ROUTER_PATH
from ._reads import READ_HANDLERS
from ._request_log import request_log_middleware

__all__ = ["API_PREFIX", "create_app"]

#: Every endpoint of the API lives under this path.
API_PREFIX = "/api/v1"


def create_app(ctx: ApiContext) -> Litestar:
    """The API server's application over ``ctx.node``."""
    from .. import __version__

    handlers: list[ControllerRouterHandler] = [
        *READ_HANDLERS,
        *INTAKE_HANDLERS,
        *METRICS_HANDLERS,
        *DASHBOARD_HANDLERS,
        *OPENAPI_HANDLERS,
    ]

    def provide_ctx() -> ApiContext:
        return ctx

    return Litestar(
        route_handlers=handlers,
        dependencies={"ctx": Provide(provide_ctx, sync_to_thread=False)},
        middleware=[*metrics_middleware(ctx), *request_log_middleware(ctx)],
        state=State({"ctx": ctx}),
        openapi_config=OpenAPIConfig(
            title="tradebus",
            version=__version__,
            description="The trading system's events: read, log and watch.",
            path=OPENAPI_ROUTER_PATH,  # see _openapi_routes: not API_PREFIX
            render_plugins=docs_plugins(),
        ),
        request_max_body_size=ctx.options.max_body,
        exception_handlers=error_handlers(),
        debug=False,
        logging_config=None,  # the process's logging is its own
    )
