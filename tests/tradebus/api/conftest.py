"""Fixtures of the API tests: for the dashboard's, a served data directory seeded with
what the pages show, the system's chromium, and where the screenshots go."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from ._dashboard import CHROMIUM, CHROMIUM_ARGS, seed
from ._server import ServerProcess, serve


@pytest.fixture(scope="module")
async def dashboard_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServerProcess]:
    """``tradebus serve`` over a data directory holding what :func:`seed` writes, for
    the module."""
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    await seed(data_dir)
    async with serve(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """The system's chromium, headless, for the module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where the screenshots go: ``$TRADEBUS_ARTIFACTS/dashboard`` if set (CI keeps
    them), else the test's temporary directory."""
    root = os.environ.get("TRADEBUS_ARTIFACTS")
    folder = Path(root) / "dashboard" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
