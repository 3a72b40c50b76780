"""Topics a caller names: an explicit topic that is not the event's own, on a plain or an
encoded publish, is refused before anything is acknowledged; the event's own is taken.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

import schemas
from eventbus import EventBusError
from tradebus import open_node
from writers import LOGS, MAIN

from ._helpers import execution, rows, tick

_MAIN = MAIN.filename


async def test_an_explicit_topic_that_is_not_the_events_own_is_refused(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bus = node.bus
        with pytest.raises(EventBusError) as refused:
            await bus.publish(execution(1), topic="trades.execution.X", wait=True)
        assert str(refused.value).startswith(
            "cannot publish TradeExecution to 'trades.execution.X': its own topic is "
            "'trade.execution.BTCUSDT'"
        )
        # A topic of another database's family:
        with pytest.raises(EventBusError, match=re.escape("logs.alert.critical")):
            await bus.publish(execution(2), topic="logs.alert.critical", wait=True)
        with pytest.raises(EventBusError, match=re.escape("'ticks.BTCUSDT'")):
            bus.publish_nowait(tick(1), topic="ticks.BTCUSDT")
        with pytest.raises(EventBusError, match=re.escape("'market.tick.ETHUSDT'")):
            await anyio.to_thread.run_sync(
                lambda: bus.publish_threadsafe(tick(2), topic="market.tick.ETHUSDT")
            )
        assert bus.published == 0
        await bus.publish(tick(3), topic="market.tick.BTCUSDT", wait=True)  # its own: taken
        await bus.flush()
    assert rows(tmp_path / _MAIN, "SELECT count(*) FROM unified_ticks") == [(1,)]
    assert rows(tmp_path / _MAIN, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_encoded_events_on_a_node_are_routed_by_what_they_are(tmp_path: Path) -> None:
    # Bytes from elsewhere: the topic a caller names must be the event's own, and bytes
    # that are no valid event are refused at the call, never acknowledged.
    alert = schemas.TradeAlert(alert_type="risk", severity="critical", message="encoded")
    trade = execution(3)
    async with open_node(tmp_path) as node:
        with pytest.raises(EventBusError, match="its own topic is"):
            await node.bus.publish_encoded(schemas.encode(alert), "nowhere.topic", wait=True)
        with pytest.raises(EventBusError, match="its own topic is"):
            await node.bus.publish_encoded(
                schemas.encode(trade), "trade.position.BTCUSDT", wait=True
            )
        with pytest.raises(schemas.InvalidEvent, match="malformed"):
            node.bus.publish_encoded_nowait(b"\x93garbage", alert.topic)
        assert node.bus.published == 0
        await node.bus.publish_encoded(schemas.encode(alert), alert.topic, wait=True)
        await node.bus.publish_encoded(schemas.encode(trade), trade.topic, wait=True)
    assert rows(tmp_path / LOGS.filename, "SELECT message FROM trade_alerts") == [("encoded",)]
    assert rows(tmp_path / MAIN.filename, "SELECT ticket FROM trade_executions") == [(3,)]
