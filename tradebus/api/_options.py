"""What the API server is told: where it listens, who may call it, how much it serves."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from .._exceptions import TradebusError

__all__ = ["TOKEN_ENV", "ApiOptionError", "ApiOptions", "read_token"]

#: The environment variable a bearer token is read from when no file is named.
TOKEN_ENV = "TRADEBUS_API_TOKEN"


class ApiOptionError(TradebusError, ValueError):
    """An option of the API server is not valid (a port out of range, a token file
    that cannot be read, ...); nothing was started."""


class ApiOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The API server's options.

    :param host: the address it binds (loopback by default: the API is not exposed to
        the network unless asked).
    :param port: its TCP port; 0 takes a free one (the one taken is printed and kept in
        :attr:`ApiServer.port`).
    :param token: the bearer token callers must present (``Authorization: Bearer ...``)
        for intake, and for reads with ``auth_reads``; None: no token (intake is then
        open to whoever can reach the address). Never logged.
    :param auth_reads: whether reads need the token too.
    :param max_limit: the largest ``limit`` a list endpoint accepts.
    :param default_limit: the ``limit`` of a list endpoint when none is given.
    :param max_body: the largest request body accepted, in bytes (413 past it).
    :param max_batch: the most events one intake request may carry.
    :param readers: read-only connections per database in the readers' pool.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    auth_reads: bool = False
    max_limit: int = 1000
    default_limit: int = 100
    max_body: int = 1 << 20
    max_batch: int = 100
    readers: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ApiOptionError(f"port must be 0 to 65535, not {self.port!r}")
        for name in ("max_limit", "default_limit", "max_body", "max_batch", "readers"):
            value = getattr(self, name)
            if value < 1:
                raise ApiOptionError(f"{name} must be at least 1, not {value!r}")
        if self.default_limit > self.max_limit:
            raise ApiOptionError(
                f"default_limit ({self.default_limit}) must not exceed max_limit ({self.max_limit})"
            )
        if self.token is not None and not self.token.strip():
            raise ApiOptionError("token must not be empty (or None for no token)")

    def __repr__(self) -> str:  # the token never appears in a log line or a traceback
        token = None if self.token is None else "***"
        return (
            f"ApiOptions(host={self.host!r}, port={self.port}, token={token}, "
            f"auth_reads={self.auth_reads})"
        )


def read_token(path: str | os.PathLike[str] | None) -> str | None:
    """The bearer token: the first line of file ``path``, or else the environment's
    ``TRADEBUS_API_TOKEN``, or None.

    :raises ApiOptionError: if the file cannot be read or holds no token.
    """
    if path is None:
        token = os.environ.get(TOKEN_ENV, "").strip()
        return token or None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiOptionError(f"cannot read the token file {str(path)!r}: {exc}") from exc
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ApiOptionError(f"the token file {str(path)!r} holds no token")
    return token
