"""Services run on a node's bus: started once it runs, stopped before it drains."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from schemas import TradeAlert
from tradebus import Node, TradebusError
from writers import open_reader


@asynccontextmanager
async def _farewell(node: Node) -> AsyncIterator[str]:
    """A service that logs an alert as it starts and another as it stops."""
    await node.integration("api_server").log_trade_alert(
        alert_type="system", severity="info", message="service up"
    )
    yield "farewell"
    node.bus.publish_nowait(TradeAlert(alert_type="system", severity="info", message="bye"))


async def _alerts(path: Path) -> list[str]:
    async with open_reader(path / "system_logs.db") as conn:
        rows = await conn.execute_fetchall("SELECT message FROM trade_alerts ORDER BY id")
    return [row[0] for row in rows]


async def test_what_a_service_publishes_as_it_stops_is_stored(tmp_path: Path) -> None:
    async with Node(tmp_path, services=[_farewell]):
        pass
    assert await _alerts(tmp_path) == ["service up", "bye"]


async def test_a_service_that_fails_to_start_fails_the_node_and_stops_the_others(
    tmp_path: Path,
) -> None:
    @asynccontextmanager
    async def broken(node: Node) -> AsyncIterator[None]:
        raise TradebusError("the feed is not configured")
        yield  # pragma: no cover

    with pytest.raises(TradebusError, match="the feed is not configured"):
        async with Node(tmp_path, services=[_farewell, broken]):
            pytest.fail("the node must not run without its services")  # pragma: no cover
    # The service started first was stopped (its farewell stored), nothing lost.
    assert await _alerts(tmp_path) == ["service up", "bye"]


async def test_a_service_failing_as_it_stops_reaches_the_caller_after_the_drain(
    tmp_path: Path,
) -> None:
    @asynccontextmanager
    async def sulky(node: Node) -> AsyncIterator[None]:
        yield
        raise TradebusError("could not store the last candle")

    with pytest.raises(TradebusError, match="could not store the last candle"):
        async with Node(tmp_path, services=[_farewell, sulky]) as node:
            await node.integration("api_server").log_trade_alert(
                alert_type="system", severity="info", message="work"
            )
    assert await _alerts(tmp_path) == ["service up", "work", "bye"]
