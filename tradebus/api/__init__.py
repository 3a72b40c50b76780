"""The API server: an HTTP API over the three databases, event intake, Prometheus
metrics and a live dashboard, served by the process hosting the ``api_server`` role
(``tradebus serve``), or by any node (:class:`ApiServer`)."""

from __future__ import annotations

from ._app import API_PREFIX as API_PREFIX
from ._app import create_app as create_app
from ._context import ApiContext as ApiContext
from ._options import TOKEN_ENV as TOKEN_ENV
from ._options import ApiOptionError as ApiOptionError
from ._options import ApiOptions as ApiOptions
from ._options import read_token as read_token
from ._server import ApiServer as ApiServer
from ._server import http_app as http_app
from ._server import listen as listen

__all__ = [
    "API_PREFIX",
    "TOKEN_ENV",
    "ApiContext",
    "ApiOptionError",
    "ApiOptions",
    "ApiServer",
    "create_app",
    "http_app",
    "listen",
    "read_token",
]
