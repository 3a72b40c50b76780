"""Shared fixtures: the asyncio backend only (aiosqlite does not run on trio)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
