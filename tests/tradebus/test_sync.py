"""The blocking API, ``get_trade_integration``: from plain threads, verified with sqlite3.

Plain ``def`` tests: the blocking API is for code that runs no event loop.
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
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

MAIN = "unified_tick_pipeline.db"
ANALYSIS = "analysis_data.db"
LOGS = "system_logs.db"


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def _event_ids(path: Path, table: str) -> list[str]:
    return [str(event_id) for (event_id,) in _rows(path, f"SELECT event_id FROM {table}")]


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` (state of another process, a file) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


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


def test_a_call_after_close_is_refused_and_a_second_close_does_nothing(tmp_path: Path) -> None:
    with get_trade_integration("api_server", data_dir=tmp_path) as api:
        api.log_trade_alert(alert_type="system", severity="info", message="before")
    assert api.closed
    with pytest.raises(TradebusError, match=r"log_trade_alert\(\).*is closed.*get_trade_integr"):
        api.log_trade_alert(alert_type="system", severity="info", message="after")
    api.close()
    api.close()
    assert _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts") == [("before",)]


def test_calls_racing_a_close_either_return_stored_or_are_refused(tmp_path: Path) -> None:
    api = get_trade_integration("api_server", data_dir=tmp_path)
    returned: list[str] = []
    refused: list[TradebusError] = []
    logging_started = threading.Event()

    def work(n: int) -> None:
        for i in range(50):
            try:
                returned.append(
                    api.log_trade_alert(alert_type="system", severity="info", message=f"{n}/{i}")
                )
            except TradebusError as exc:
                refused.append(exc)
                return
            logging_started.set()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    assert logging_started.wait(30)
    api.close()  # waits for the calls under way; later ones are refused
    for thread in threads:
        thread.join()
    assert all("is closed" in str(exc) for exc in refused)
    assert sorted(_event_ids(tmp_path / LOGS, "trade_alerts")) == sorted(returned)


def test_a_process_that_exits_without_closing_stores_every_acknowledged_event(
    tmp_path: Path,
) -> None:
    # The main thread ends at once; a worker thread is still logging: the interpreter
    # waits for it, then closes the integration at exit.
    result = _run(
        f"""
        import threading
        from tradebus import get_trade_integration

        api = get_trade_integration("api_server", data_dir={str(tmp_path)!r})

        def work():
            for i in range(50):
                api.log_trade_alert(alert_type="system", severity="info", message=str(i))
            print("done", flush=True)

        threading.Thread(target=work).start()
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
    messages = _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts")
    assert sorted(int(str(m)) for (m,) in messages) == list(range(50))
    with get_trade_integration("api_server", data_dir=tmp_path) as api:
        assert api.mode == "host"  # the exited process's lock is free


def test_a_forked_child_is_refused_clearly_and_exits(tmp_path: Path) -> None:
    # The child has a copy of the parent's integration but not its threads: a call on
    # the copy is refused, and so is a new one (SQLite is not safe in a child forked
    # while other threads used it); exiting does not wait for the parent's threads.
    result = _run(
        f"""
        import os, sys
        from tradebus import TradebusError, get_trade_integration

        api = get_trade_integration("api_server", data_dir={str(tmp_path)!r})
        api.log_trade_alert(alert_type="system", severity="info", message="parent")
        pid = os.fork()
        if pid == 0:
            try:
                api.log_trade_alert(alert_type="system", severity="info", message="copy")
            except TradebusError as exc:
                print("refused:", exc, flush=True)
            try:
                get_trade_integration("api_server", data_dir={str(tmp_path)!r})
            except TradebusError as exc:
                print("new one refused:", exc, flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit:", os.waitstatus_to_exitcode(status), flush=True)
        api.log_trade_alert(alert_type="system", severity="info", message="parent again")
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    refused, new_one, exit_code = result.stdout.splitlines()
    assert refused.startswith("refused: cannot call log_trade_alert(): the blocking integration")
    assert "this process is a fork of it" in refused
    assert new_one.startswith("new one refused: this process is a fork of process")
    assert "'spawn'" in new_one
    assert exit_code == "child exit: 0"
    assert _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts") == [
        ("parent",),
        ("parent again",),
    ]


async def test_a_call_from_an_event_loop_is_refused_with_what_to_use(tmp_path: Path) -> None:
    api = await anyio.to_thread.run_sync(get_trade_integration, "api_server", tmp_path)
    try:
        with pytest.raises(TradebusError, match=r"log_trade_alert\(\).*event loop.*async API"):
            api.log_trade_alert(alert_type="system", severity="info", message="in a loop")
        with pytest.raises(TradebusError, match=r"close\(\).*event loop"):
            api.close()
        with pytest.raises(TradebusError, match=r"get_trade_integration\(\).*event loop"):
            get_trade_integration("chatgpt_bot", data_dir=tmp_path)
    finally:
        await anyio.to_thread.run_sync(api.close)
    assert _rows(tmp_path / LOGS, "SELECT count(*) FROM trade_alerts") == [(0,)]


def test_a_call_from_the_integrations_own_loop_is_refused(tmp_path: Path) -> None:
    # A coroutine run by the integration's own loop (as a callback could be) calling the
    # blocking API would wait for itself forever: it is refused instead.
    with get_trade_integration("api_server", data_dir=tmp_path) as api:

        async def inside() -> None:
            api.log_trade_alert(alert_type="system", severity="info", message="inside")

        with pytest.raises(TradebusError, match="event loop"):
            api._loop.call(inside)


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


# ------------------------------------------------------------------ client mode

_OWNER = """
import sys
import anyio
from tradebus import open_node

async def main():
    async with open_node({data_dir!r}, roles=[{role!r}]) as node:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # until the test closes stdin

anyio.run(main)
"""


@contextmanager
def _owner(tmp_path: Path, role: str) -> Iterator[subprocess.Popen[str]]:
    """Another process hosting ``role`` in ``tmp_path``, until the block ends; then it
    stops (cleanly: exit code 0)."""
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER.format(data_dir=str(tmp_path), role=role)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as owner:
        assert owner.stdin is not None
        assert owner.stdout is not None
        try:
            assert owner.stdout.readline() == "ready\n"
            yield owner
        finally:
            owner.stdin.close()
            assert owner.wait(timeout=60) == 0


def test_a_role_run_by_another_process_makes_a_client_whose_events_reach_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _owner(tmp_path, "api_server") as owner:
        with caplog.at_level(logging.INFO, logger="tradebus"):
            api = get_trade_integration("api_server", data_dir=tmp_path)
        with api:
            assert api.mode == "client"
            [said] = [r.getMessage() for r in caplog.records if "mode" in r.getMessage()]
            assert said == (
                f"api_server logs in client mode in {tmp_path}: its writer runs in another "
                f"process (pid {owner.pid}); events are committed to this process's outbox, "
                "and that writer's relay stores them in system_logs.db"
            )
            assert caplog.records[-1].levelno == logging.INFO  # no writer failed first
            event_id = api.log_trade_alert(alert_type="risk", severity="warning", message="m")
            assert (tmp_path / "outboxes" / "client-1.db").is_file()  # its own outbox
            api.delivered(timeout=60)  # stored by the owner's relay in the owner's database
            assert _event_ids(tmp_path / LOGS, "trade_alerts") == [event_id]
    assert _event_ids(tmp_path / LOGS, "trade_alerts") == [event_id]


def test_a_client_process_that_exits_without_closing_has_its_events_delivered(
    tmp_path: Path,
) -> None:
    with _owner(tmp_path, "api_server"):
        result = _run(
            f"""
            from tradebus import get_trade_integration

            api = get_trade_integration("api_server", data_dir={str(tmp_path)!r})
            print(api.mode)
            for i in range(20):
                api.log_trade_alert(alert_type="system", severity="info", message=str(i))
            """,
            cwd=tmp_path,
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "client\n", "")
        # The client is gone; the owner's relay stores what its outbox holds.
        _eventually(lambda: len(_event_ids(tmp_path / LOGS, "trade_alerts")) >= 20)
    messages = _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts")
    assert sorted(int(str(m)) for (m,) in messages) == list(range(20))


def test_an_event_of_another_roles_database_is_stored_once_its_owner_runs(
    tmp_path: Path,
) -> None:
    with get_trade_integration("chatgpt_bot", data_dir=tmp_path) as bot:
        assert bot.mode == "host"
        # The api_server owns alerts and does not run: the alert waits in the bot's
        # outbox (durable: the call returned).
        alert_id = bot.log_trade_alert(alert_type="risk", severity="critical", message="dd")
        with pytest.raises(TimeoutError):
            bot.delivered(timeout=0.2)
        with _owner(tmp_path, "api_server"):
            bot.delivered(timeout=60)
            assert _event_ids(tmp_path / LOGS, "trade_alerts") == [alert_id]


async def test_an_async_node_sees_what_the_blocking_api_stored(tmp_path: Path) -> None:
    def log() -> str:
        with get_trade_integration("api_server", data_dir=tmp_path) as api:
            return api.log_trade_alert(alert_type="profit", severity="info", message="+2%")

    event_id = await anyio.to_thread.run_sync(log)
    async with open_node(tmp_path, roles=["api_server"]) as node:
        alerts = await node.integration("api_server").alerts()
    assert [(a.event_id, a.message) for a in alerts] == [(event_id, "+2%")]
    assert all(isinstance(a, TradeAlert) for a in alerts)
