"""Shared fixtures: the asyncio backend only (aiosqlite does not run on trio), and the
real servers some tests need (nats-server with JetStream, PostgreSQL).

The servers are the ones ``.ci/run`` started when its variables are set
(``TRADEBUS_TEST_NATS_URL``, ``TRADEBUS_TEST_PG_DSN``); otherwise the session starts
its own from the installed packages, or skips the tests that need them, saying why.
Tests that kill or restart a server start a private one (:mod:`bench.servers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running nats-server with JetStream (shared by the session:
    each test uses streams of its own names)."""
    url = os.environ.get(NATS_URL_ENV)
    if url:
        yield url
        return
    try:
        server = NatsServer(tmp_path_factory.mktemp("nats"))
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"no NATS server: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DSN of a running PostgreSQL superuser (shared by the session: each test
    uses a database of its own)."""
    dsn = os.environ.get(PG_DSN_ENV)
    if dsn:
        yield dsn
        return
    try:
        server = PostgresServer(tmp_path_factory.mktemp("postgres"))
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield server.dsn
    finally:
        server.close()
