"""The blocking API, ``get_trade_integration``: from plain threads, verified with sqlite3.

Plain ``def`` tests: the blocking API is for code that runs no event loop.
"""

from __future__ import annotations

import inspect
import logging
import threading
from pathlib import Path
from typing import assert_type

import anyio
import anyio.to_thread
import pytest

from schemas import TradeAlert
from tradebus import (
    SyncTradeIntegration,
    TradebusError,
    TradeIntegration,
    UnknownReference,
    get_trade_integration,
    open_node,
)

from ._sync_helpers import ANALYSIS, LOGS, MAIN
from ._sync_helpers import event_ids as _event_ids
from ._sync_helpers import rows as _rows
from ._sync_helpers import run_script as _run


def test_the_original_systems_example_runs_as_written(tmp_path: Path) -> None:
    # In a process of its own, in the default data directory ("data", here in tmp_path),
    # never closed: it is closed at exit.
    result = _run(
        """
        from tradebus import get_trade_integration

        trade_integration = get_trade_integration("chatgpt_bot")
        trade_integration.log_trade_execution(
            ticket=12345, symbol="BTCUSDT", direction="BUY", entry_price=50000.0,
            stop_loss=49500.0, take_profit=51000.0, volume=0.01,
        )
        print(trade_integration.mode)
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "host\n", "")
    assert _rows(
        tmp_path / "data" / MAIN,
        "SELECT ticket, symbol, direction, entry_price, stop_loss, take_profit, volume "
        "FROM trade_executions",
    ) == [(12345, "BTCUSDT", "BUY", 50000.0, 49500.0, 51000.0, 0.01)]


def test_calls_return_what_the_coroutines_return_once_committed(tmp_path: Path) -> None:
    # A long max_delay: only the wait for the commit makes the rows visible at once.
    with get_trade_integration("chatgpt_bot", data_dir=tmp_path, max_delay=5.0) as bot:
        assert bot.mode == "host"
        event_id = bot.log_trade_execution(
            ticket=7, symbol="ETHUSDT", direction="SELL", entry_price=3000.0, volume=1.0
        )
        assert_type(event_id, str)
        assert _event_ids(tmp_path / MAIN, "trade_executions") == [event_id]
        [position] = bot.open_positions()
        assert (position.ticket, position.event_id) == (7, event_id)
        closed = bot.close_position(ticket=7, symbol="ETHUSDT", close_price=2990.0)
        assert bot.open_positions() == []
        assert closed in _event_ids(tmp_path / MAIN, "trade_positions")


def test_calls_raise_what_the_coroutines_raise(tmp_path: Path) -> None:
    with get_trade_integration("chatgpt_bot", data_dir=tmp_path) as bot:
        with pytest.raises(UnknownReference, match="ticket 404 has no committed execution"):
            bot.update_position(ticket=404, symbol="BTCUSDT", current_price=1.0)
        with pytest.raises(ValueError, match="direction"):
            bot.log_trade_execution(
                ticket=1,
                symbol="BTCUSDT",
                direction="UP",  # type: ignore[arg-type]
                entry_price=1.0,
                volume=1.0,
            )
    assert _rows(tmp_path / MAIN, "SELECT count(*) FROM trade_executions") == [(0,)]


def test_eight_threads_at_once_store_every_event_once_in_its_database(tmp_path: Path) -> None:
    # Three integrations (one per role) in one process, each hosting its role; every
    # other call of the bot and the agent logs an alert, which the api_server owns: it
    # goes through their outboxes, and the api_server's relays store it.
    roles = ["chatgpt_bot", "desktop_agent", "api_server"]
    integrations = {role: get_trade_integration(role, data_dir=tmp_path) for role in roles}
    returned: dict[str, list[str]] = {
        "trade_executions": [],
        "trade_recommendations": [],
        "trade_alerts": [],
    }
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        role = roles[n % 3]
        integration = integrations[role]
        try:
            start.wait()
            for i in range(25):
                if role == "api_server" or i % 2:
                    table = "trade_alerts"
                    event_id = integration.log_trade_alert(
                        alert_type="risk", severity="info", message=f"{role} {n}/{i}"
                    )
                elif role == "chatgpt_bot":
                    table = "trade_executions"
                    event_id = integration.log_trade_execution(
                        ticket=n * 100 + i + 1,
                        symbol="BTCUSDT",
                        direction="BUY",
                        entry_price=50_000.0 + i,
                        volume=0.01,
                    )
                else:
                    table = "trade_recommendations"
                    event_id = integration.log_trade_recommendation(
                        symbol="BTCUSDT",
                        direction="BUY",
                        entry_price=50_000.0,
                        stop_loss=49_500.0,
                        take_profit=51_000.0 + n * 100 + i,
                        confidence=80,
                    )  # its recommendation_id, which is its event_id (none was given)
                returned[table].append(event_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for integration in integrations.values():
        integration.delivered(timeout=60)  # the relayed alerts are stored too
    for integration in integrations.values():
        integration.close()
    assert errors == []

    assert {role: integrations[role].mode for role in roles} == dict.fromkeys(roles, "host")
    assert [len(returned[t]) for t in returned] == [3 * 13, 3 * 13, 2 * 25 + 6 * 12]
    for database, table in [
        (MAIN, "trade_executions"),
        (ANALYSIS, "trade_recommendations"),
        (LOGS, "trade_alerts"),
    ]:
        stored = _event_ids(tmp_path / database, table)
        assert sorted(stored) == sorted(returned[table]), table
        assert len(set(stored)) == len(stored), table


def test_the_same_role_and_directory_give_the_same_open_integration(tmp_path: Path) -> None:
    first = get_trade_integration("api_server", data_dir=tmp_path)
    try:
        assert get_trade_integration("api_server", data_dir=str(tmp_path)) is first
        with pytest.raises(TradebusError, match="open already with other options"):
            get_trade_integration("api_server", data_dir=tmp_path, max_batch=10)
    finally:
        first.close()
    second = get_trade_integration("api_server", data_dir=tmp_path)
    try:
        assert second is not first
        assert second.mode == "host"  # the first one's lock was released on close
    finally:
        second.close()


def test_the_mode_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="tradebus"),
        get_trade_integration("api_server", data_dir=tmp_path) as api,
    ):
        api.log_system_health(component="feed", status="ok")
        api.log_system_health(component="feed", status="ok")
    said = [r.getMessage() for r in caplog.records if "mode" in r.getMessage()]
    assert said == [f"api_server logs in host mode in {tmp_path} (this process hosts the role)"]


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TradebusError, match="no role 'trader'"):
        get_trade_integration("trader", data_dir=tmp_path)


def test_every_method_of_the_async_api_has_its_blocking_twin() -> None:
    def calls(cls: type) -> dict[str, object]:
        return {
            name: inspect.unwrap(member)
            for name, member in inspect.getmembers(cls, callable)
            if not name.startswith("_") and inspect.iscoroutinefunction(inspect.unwrap(member))
        }

    async_calls = calls(TradeIntegration)
    assert len(async_calls) == 17
    assert calls(SyncTradeIntegration) == async_calls  # the same functions, unwrapped
    for name in async_calls:
        blocking = getattr(SyncTradeIntegration, name)
        assert blocking.__doc__ == getattr(TradeIntegration, name).__doc__
        assert inspect.signature(blocking) == inspect.signature(getattr(TradeIntegration, name))
        assert blocking.__qualname__ == f"SyncTradeIntegration.{name}"


async def test_an_async_node_sees_what_the_blocking_api_stored(tmp_path: Path) -> None:
    def log() -> str:
        with get_trade_integration("api_server", data_dir=tmp_path) as api:
            return api.log_trade_alert(alert_type="profit", severity="info", message="+2%")

    event_id = await anyio.to_thread.run_sync(log)
    async with open_node(tmp_path, roles=["api_server"]) as node:
        alerts = await node.integration("api_server").alerts()
    assert [(a.event_id, a.message) for a in alerts] == [(event_id, "+2%")]
    assert all(isinstance(a, TradeAlert) for a in alerts)
