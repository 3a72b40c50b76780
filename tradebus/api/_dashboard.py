"""``GET /``: the live dashboard, and its files (shipped inside the package).

The page and its files hold no data: they are served without the token, so that a
browser can always load the page and ask for the token when the API needs one. The
data comes from the read endpoints, each guarded as a read.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.types import ControllerRouterHandler

from ._dashboard_files import StaticFile, load_static

__all__ = ["DASHBOARD_HANDLERS", "STATIC_PREFIX", "static_files"]

#: Where the package's files are served.
STATIC_PREFIX = "/static"

#: Every response revalidates (cheap: 304 by entity tag), so an upgraded server's
#: files are never mixed with stale ones held by a browser.
_COMMON_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

#: The page loads nothing but its own files, and talks to nothing but its own server.
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@functools.cache
def static_files() -> dict[str, StaticFile]:
    """The files served under :data:`STATIC_PREFIX`, read from the package once."""
    return load_static()


def _respond(
    request: Request[Any, Any, Any], file: StaticFile, headers: dict[str, str]
) -> Response[bytes]:
    headers = {**headers, "ETag": file.etag}
    given = request.headers.get("if-none-match", "")
    if file.etag in (tag.strip() for tag in given.split(",")) or given.strip() == "*":
        return Response(b"", status_code=304, headers=headers, media_type=file.media_type)
    return Response(file.content, headers=headers, media_type=file.media_type)


@get("/", include_in_schema=False, sync_to_thread=False)
def dashboard_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The dashboard."""
    return _respond(request, static_files()["index.html"], _PAGE_HEADERS)


@get(f"{STATIC_PREFIX}/{{name:path}}", include_in_schema=False, sync_to_thread=False)
def static_file(
    request: Request[Any, Any, Any], name: Annotated[str, PathParameter()]
) -> Response[bytes]:
    """One of the package's files, by its path under the static folder."""
    file = static_files().get(name.lstrip("/"))
    if file is None:
        raise NotFoundException(f"no file {name.lstrip('/')!r} among the dashboard's files")
    headers = _PAGE_HEADERS if file.media_type.startswith("text/html") else _COMMON_HEADERS
    return _respond(request, file, headers)


DASHBOARD_HANDLERS: list[ControllerRouterHandler] = [dashboard_page, static_file]
