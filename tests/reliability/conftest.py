"""Soak variants (marked ``soak``) run only with ``TRADEBUS_SOAK=1``."""

from __future__ import annotations

import pytest

from ._helpers import SOAK


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak variant: set TRADEBUS_SOAK=1 to run it")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)
