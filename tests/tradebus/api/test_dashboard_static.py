"""The dashboard's page and static files as ``tradebus serve`` serves them: their
media types, cache headers and entity tags, and no request reaching a file outside the
static files or listing them. (Over HTTP, no browser; skipped with the other
dashboard tests where the system has no chromium.)"""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio
import pytest

from ._dashboard import needs_chromium
from ._server import ServerProcess

pytestmark = needs_chromium


async def _raw_get(url: str, target: str) -> int:
    """The status of ``GET target`` sent as is (no client normalises its dots away)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    async with await anyio.connect_tcp(parts.hostname, parts.port) as stream:
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        await stream.send(request.encode())
        received = b""
        with anyio.fail_after(30):
            while b"\r\n" not in received:
                received += await stream.receive()
    return int(received.split(b" ", 2)[1])


async def test_the_page_and_its_files_are_served_with_their_types_and_entity_tags(
    dashboard_server: ServerProcess,
) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/static/app.js": "text/javascript; charset=utf-8",
        "/static/chart.js": "text/javascript; charset=utf-8",
        "/static/app.css": "text/css; charset=utf-8",
        "/static/favicon.svg": "image/svg+xml",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "/static/vendor/swagger-ui/swagger-ui.css": "text/css; charset=utf-8",
    }
    async with dashboard_server.client() as client:
        for path, media_type in expected.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type, path
            assert response.headers["cache-control"] == "no-cache", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            etag = response.headers["etag"]
            again = await client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304, path
            assert again.content == b""
        page = await client.get("/")
        assert '<script type="module" src="static/app.js">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        changed = await client.get("/static/app.js", headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200
        assert changed.content.startswith(b"// The dashboard")
        docs = await client.get("/api/v1/docs")
        assert docs.status_code == 200
        assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()


@pytest.mark.parametrize(
    "target",
    [
        "/static/../_app.py",
        "/static/../../tradebus/api/_app.py",
        "/static/%2e%2e/_app.py",
        "/static/..%2f_app.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static//etc/passwd",
        "/static/",
        "/static/vendor",
        "/static/vendor/swagger-ui/",
        "/static/vendor/swagger-ui/LICENSE",
        "/static/app.js%00.py",
        "/static/APP.JS",
        "/static/.hidden",
        "/static/docs/../../_app.py",
    ],
)
async def test_no_request_reaches_a_file_outside_the_static_files_nor_lists_them(
    dashboard_server: ServerProcess, target: str
) -> None:
    assert await _raw_get(dashboard_server.url, target) == 404
