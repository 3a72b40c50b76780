"""The blocking API in client mode: with its role run by another process, the events
go through this process's outbox to that process's relay (also after an exit without
close); an event of a role nobody runs waits until its owner runs."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tradebus import get_trade_integration

from ._sync_helpers import LOGS
from ._sync_helpers import event_ids as _event_ids
from ._sync_helpers import rows as _rows
from ._sync_helpers import run_script as _run


def _eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` (state of another process, a file) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


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
