"""Shared fixtures: the asyncio backend only (aiosqlite does not run on trio), and the
real servers some tests need (nats-server with JetStream, PostgreSQL).

The servers are the ones ``.ci/run`` started when its variables are set
(``TRADEBUS_TEST_NATS_URL``, ``TRADEBUS_TEST_PG_DSN``); otherwise the session starts
its own from the installed packages, or skips the tests that need them, saying why.
Tests that kill or restart a server start a private one (:mod:`bench.servers`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from bench.servers import (
    NATS_URL_ENV,
    PG_DSN_ENV,
    NatsServer,
    PostgresServer,
    ServerUnavailable,
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _server(
    variable: str, make: Callable[[], NatsServer | PostgresServer], what: str
) -> Iterator[str]:
    """The address in ``variable`` if set, else that of a server ``make`` starts
    (closed after the session), else a skip saying why."""
    address = os.environ.get(variable)
    if address:
        yield address
        return
    try:
        server = make()
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"no {what} server: {exc}")
    try:
        yield server.url if isinstance(server, NatsServer) else server.dsn
    finally:
        server.close()


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running nats-server with JetStream (shared by the session:
    each test uses streams of its own names)."""
    yield from _server(NATS_URL_ENV, lambda: NatsServer(tmp_path_factory.mktemp("nats")), "NATS")


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DSN of a running PostgreSQL superuser (shared by the session: each test
    uses a database of its own)."""
    yield from _server(
        PG_DSN_ENV, lambda: PostgresServer(tmp_path_factory.mktemp("postgres")), "PostgreSQL"
    )
