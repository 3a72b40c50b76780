"""A trade-integration call never awaited says so: an ERROR log and a RuntimeWarning."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import assert_type

import pytest

from schemas import TradeAlert
from tradebus import IntegrationCall, open_node


def _alerts(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT message FROM trade_alerts").fetchall()


def _never_awaited(call: Callable[[], object]) -> None:
    """Make the call, drop what it returns, and collect it."""
    call()
    gc.collect()


async def test_a_log_call_never_awaited_warns_and_logs_that_nothing_was_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        api = node.integration("api_server")
        with (
            pytest.warns(RuntimeWarning) as warned,
            caplog.at_level(logging.ERROR, logger="tradebus"),
        ):
            _never_awaited(
                lambda: api.log_trade_alert(alert_type="risk", severity="critical", message="lost")
            )
        await api.log_trade_alert(alert_type="risk", severity="info", message="kept")

    expected = (
        "TradeIntegration.log_trade_alert() was never awaited: nothing was stored. "
        "Write `await integration.log_trade_alert(...)` (or use the blocking API, "
        "tradebus.get_trade_integration)"
    )
    [warning] = warned.list
    assert str(warning.message) == expected
    assert warning.filename == __file__  # at the line of the call
    [record] = [r for r in caplog.records if r.name == "tradebus"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(expected + f" (called at {__file__}:")
    assert _alerts(tmp_path / "system_logs.db") == [("kept",)]


async def test_a_read_never_awaited_says_nothing_was_read(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        api = node.integration("api_server")
        with pytest.warns(RuntimeWarning, match=r"alerts\(\) was never awaited: nothing was read"):
            _never_awaited(api.alerts)


async def test_awaited_calls_and_tasks_say_nothing_and_return_the_methods_result(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Any warning fails this test (warnings are errors in this suite).
    async with open_node(tmp_path, roles=["api_server"]) as node:
        api = node.integration("api_server")
        call = api.log_trade_alert(alert_type="system", severity="info", message="awaited")
        assert isinstance(call, IntegrationCall)
        event_id = await call
        assert_type(event_id, str)
        task = asyncio.create_task(
            api.log_trade_alert(alert_type="system", severity="info", message="a task")
        )
        assert_type(await task, str)
        alerts = await api.alerts()
        assert_type(alerts, list[TradeAlert])
        closed = api.log_trade_alert(alert_type="system", severity="info", message="closed")
        closed.close()  # closed on purpose: nothing to report
        del call, closed
        gc.collect()
    assert [a.message for a in alerts] == ["awaited", "a task"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert _alerts(tmp_path / "system_logs.db") == [("awaited",), ("a task",)]


async def test_a_failing_call_raises_its_error_when_awaited(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as node:
        bot = node.integration("chatgpt_bot")
        call = bot.update_position(ticket=404, symbol="BTCUSDT", current_price=1.0)
        with pytest.raises(LookupError, match="ticket 404 has no committed execution"):
            await call
