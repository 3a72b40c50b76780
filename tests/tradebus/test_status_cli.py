"""``tradebus status`` against real role processes and real status files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from tradebus import ProcessStatus, RelayLag
from tradebus._status import STATUS_FILENAME, this_host
from tradebus._status_check import StatusCheck
from tradebus._status_file import update_status

_ROLE_PROCESS = textwrap.dedent(
    """
    import sys
    import anyio
    import anyio.to_thread
    from tradebus import StatusReporter, open_node

    async def main() -> None:
        async with (
            open_node(sys.argv[1], roles=[sys.argv[2]], status_file=False) as node,
            StatusReporter(node, interval=0.1) as reporter,
        ):
            print(reporter.id, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)  # until stdin closes

    anyio.run(main)
    """
)
_ROLES = ("chatgpt_bot", "desktop_agent", "api_server")


async def _status(data: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process(
        [sys.executable, "-m", "tradebus", "status", "--data-dir", str(data), *args],
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )


async def _check(data: Path, *args: str) -> StatusCheck:
    result = await _status(data, "--json", *args)
    check = msgspec.json.decode(result.stdout, type=StatusCheck)
    assert check.exit_code == result.returncode
    return check


@asynccontextmanager
async def _role_process(data: Path, role: str) -> AsyncIterator[tuple[Process, str]]:
    """A process running a node for ``role`` with a StatusReporter; yields its id."""
    script = data.parent / "role_process.py"
    script.write_text(_ROLE_PROCESS)
    process = await anyio.open_process(
        [sys.executable, str(script), str(data), role],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 256)
        yield process, line.decode()
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()


async def test_exit_codes_follow_the_role_processes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        _role_process(data, "chatgpt_bot") as (_, bot),
        _role_process(data, "desktop_agent") as (agent_process, agent),
        _role_process(data, "api_server") as (api_process, api),
    ):
        shown = await _status(data)
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout.decode()
        assert "healthy: every role has a live process" in out
        assert all(role in out for role in _ROLES)
        assert str(api_process.pid) in out
        check = await _check(data)
        assert check.roles == {"chatgpt_bot": bot, "desktop_agent": agent, "api_server": api}
        entry = check.status.processes[agent]
        assert (entry.pid, entry.roles, entry.state) == (
            agent_process.pid, ("desktop_agent",), "running",
        )  # fmt: skip

        # A role process that stops: its role has no live process (exit 3).
        assert agent_process.stdin is not None
        await agent_process.stdin.aclose()
        with anyio.fail_after(30):
            assert await agent_process.wait() == 0
        shown = await _status(data)
        assert shown.returncode == 3
        out = shown.stdout.decode()
        assert "no live process" in out
        assert "not healthy: no live process for desktop_agent" in out
        check = await _check(data)
        assert check.roles["desktop_agent"] is None
        assert check.status.processes[agent].state == "stopped"

        # One killed: shown dead (its pid is gone), and still listed.
        api_process.send_signal(signal.SIGKILL)
        await api_process.wait()
        check = await _check(data)
        assert check.exit_code == 3
        assert check.roles == {"chatgpt_bot": bot, "desktop_agent": None, "api_server": None}
        assert check.status.processes[api].state == "dead"
        assert check.status.processes[api].dead_reason == f"process {api_process.pid} is gone"
        shown = await _status(data, "--all")
        assert "process " + str(api_process.pid) + " is gone" in shown.stdout.decode()


def _live(role: str, *, lag: float = 0.0) -> ProcessStatus:
    """An entry of a live process (this one) hosting ``role``, with one relay."""
    now = time.time_ns()
    relay = RelayLag(
        source="analysis_data.db", database="main", pending=7 if lag else 0,
        lag_seconds=lag, delivered=3, cursor=3,
    )  # fmt: skip
    return ProcessStatus(
        id=f"{this_host()}:{os.getpid()}:{role}", roles=(role,), pid=os.getpid(),
        host=this_host(), started=now, heartbeat=now, state="running", interval=1.0,
        stale_after=3600.0, events_written=10, rows_written=10, queue_depth={},
        relays={"analysis_data.db -> main": relay}, writers={}, last_error=None,
    )  # fmt: skip


async def test_a_relay_lagging_beyond_max_lag_fails(tmp_path: Path) -> None:
    update_status(tmp_path, _live("chatgpt_bot", lag=120.0))
    update_status(tmp_path, _live("desktop_agent"))
    update_status(tmp_path, _live("api_server"))
    shown = await _status(tmp_path, "--max-lag", "60")
    assert shown.returncode == 4
    assert "lagging: analysis_data.db -> main" in shown.stdout.decode()
    assert "oldest waiting 120.0s (more than --max-lag 60)" in shown.stdout.decode()
    check = await _check(tmp_path)  # the default limit: 60 s
    assert check.exit_code == 4
    assert [(lag.relay, lag.pending) for lag in check.lagging] == [("analysis_data.db -> main", 7)]
    assert (await _status(tmp_path, "--max-lag", "300")).returncode == 0


async def test_no_status_file_means_no_role_is_live(tmp_path: Path) -> None:
    shown = await _status(tmp_path)
    assert shown.returncode == 3
    assert f"No process has written {tmp_path / STATUS_FILENAME} yet" in shown.stdout.decode()
    check = await _check(tmp_path)
    assert check.roles == dict.fromkeys(_ROLES)
    assert check.status.processes == {}


async def test_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    missing = await _status(tmp_path / "nope")
    assert missing.returncode == 1
    assert b"no data directory" in missing.stderr
    (tmp_path / STATUS_FILENAME).write_bytes(b'{"version": 7, "processes": {}}')
    newer = await _status(tmp_path)
    assert newer.returncode == 1
    assert b"schema version 7, newer than this tradebus reads (1)" in newer.stderr
    assert b"Traceback" not in newer.stderr
    bad = await _status(tmp_path, "--max-lag", "-1")
    assert bad.returncode == 2
    assert b"expected a number of seconds >= 0" in bad.stderr
