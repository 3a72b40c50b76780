"""Services run on a node's bus: started once it runs, stopped before it drains."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
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


class _Ticker:
    """A service with a task of its own: it logs a health beat every few ms."""

    def __init__(self, node: Node, *, fail_after: int | None = None) -> None:
        self.node = node
        self.fail_after = fail_after
        self.beats = 0  # acknowledged
        self.attempts = 0  # called (the last one may be cut short by the stop)
        self.three = anyio.Event()
        self._group = anyio.create_task_group()

    async def __aenter__(self) -> _Ticker:
        await self._group.__aenter__()
        self._group.start_soon(self._beat)
        return self

    async def __aexit__(self, *exc_info: object) -> bool | None:
        self._group.cancel_scope.cancel()
        return await self._group.__aexit__(*exc_info)  # type: ignore[arg-type]

    async def _beat(self) -> None:
        api = self.node.integration("api_server")
        while True:
            if self.fail_after is not None and self.beats >= self.fail_after:
                raise TradebusError("the ticker's feed broke")
            self.attempts += 1
            await api.log_system_health(component="ticker", status="ok")
            self.beats += 1
            if self.beats == 3:
                self.three.set()
            await anyio.sleep(0.005)


async def _beats(path: Path) -> int:
    async with open_reader(path / "system_logs.db") as conn:
        rows = list(await conn.execute_fetchall("SELECT count(*) FROM system_health"))
    return int(rows[0][0])


async def test_a_service_with_its_own_tasks_stops_with_the_node(tmp_path: Path) -> None:
    tickers: list[_Ticker] = []

    def ticker(node: Node) -> _Ticker:
        tickers.append(_Ticker(node))
        return tickers[-1]

    async with Node(tmp_path, services=[ticker, _farewell]):
        await tickers[0].three.wait()
    # Every beat acknowledged was stored (the last call, cut short by the stop, may
    # have been stored before its acknowledgement reached the ticker).
    assert tickers[0].beats <= await _beats(tmp_path) <= tickers[0].attempts
    assert (await _alerts(tmp_path))[-1] == "bye"


async def test_a_service_whose_task_fails_fails_the_node_with_its_error(tmp_path: Path) -> None:
    async def run() -> None:
        async with Node(tmp_path, services=[lambda node: _Ticker(node, fail_after=3)]):
            await anyio.sleep(60)  # cancelled by the failure
            pytest.fail("the node must stop when its service fails")  # pragma: no cover

    with pytest.raises(TradebusError, match="the ticker's feed broke"):
        await run()
    assert await _beats(tmp_path) == 3
