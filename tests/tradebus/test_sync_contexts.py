"""The blocking API refuses calls from where it cannot serve them, saying why: a
forked child (which still exits), an event loop (use the async API), the
integration's own loop."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from tradebus import TradebusError, get_trade_integration

from ._sync_helpers import LOGS
from ._sync_helpers import rows as _rows
from ._sync_helpers import run_script as _run


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
