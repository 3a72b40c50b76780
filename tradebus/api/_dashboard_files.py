"""The files shipped in ``tradebus/api/static/``: read once, served from memory.

Only the files found in the package when the server starts are served, looked up by
their exact relative path: a name with ``..``, a directory or anything else is simply
not in the table (404), so no request can reach a file outside the folder nor list it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["MEDIA_TYPES", "StaticFile", "load_static"]

#: The kinds of file served, by suffix (text is UTF-8: the response says so); any other
#: file in the folder is not served.
MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain",
    ".woff2": "font/woff2",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file: its bytes, its media type and its entity tag (of its content)."""

    content: bytes
    media_type: str
    etag: str


def _walk(folder: Traversable, prefix: str) -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(".") or name == "__pycache__":
            continue
        if entry.is_dir():
            found.update(_walk(entry, f"{prefix}{name}/"))
            continue
        suffix = name[name.rfind(".") :] if "." in name else ""
        media_type = MEDIA_TYPES.get(suffix.lower())
        if media_type is None:
            continue
        content = entry.read_bytes()
        digest = hashlib.sha256(content).hexdigest()[:20]
        found[f"{prefix}{name}"] = StaticFile(content, media_type, f'"{digest}"')
    return found


def load_static(package: str = "tradebus.api", folder: str = "static") -> dict[str, StaticFile]:
    """Every servable file under ``package/folder``, by its path relative to it
    (``"app.js"``, ``"vendor/swagger-ui/swagger-ui.css"``)."""
    return _walk(resources.files(package) / folder, "")
