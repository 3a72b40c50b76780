"""``tradebus up``: one supervised role process per role, as real subprocesses."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tradebus import Topology

from .test_run_apps import closed_and_alerted

_DEADLINE = 60.0

# The bundled apps, faster: positions close within a second.
_FAST_APPS = """
from tradebus import role_apps


async def bot(node):
    await role_apps.chatgpt_bot(node, rate=300, max_hold=0.5, seed=1)


async def agent(node):
    await role_apps.desktop_agent(node, every=0.1, seed=2)


async def api(node):
    await role_apps.api_server(node, every=0.05, health_every=0.2)
"""
_FILES = {role: spec.filename for role, spec in Topology.default().owners.items()}


class _Up:
    """A running ``tradebus up``, and the lines it printed so far."""

    def __init__(self, cwd: Path, *args: str) -> None:
        if "--http" not in args:  # a free port: never the default one, which may be taken
            args = (*args, "--http", "127.0.0.1:0")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tradebus", "up", "--data-dir", "data", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=_DEADLINE)
            self.process.kill()
        self.process.wait()
        self._reader.join(timeout=_DEADLINE)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + _DEADLINE
        while not condition():
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                pytest.fail(
                    f"up exited ({self.process.returncode}) before {what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.output()}")
            time.sleep(0.05)

    def pids(self, role: str) -> list[int]:
        """The pids ``up`` said it started for ``role``, oldest first."""
        pattern = re.compile(rf"started: {role} \(pid (\d+)\)")
        return [int(m.group(1)) for line in self.lines if (m := pattern.search(line))]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Callable[..., _Up]]:
    started: list[_Up] = []

    def start(*args: str) -> _Up:
        process = _Up(tmp_path, *args)
        started.append(process)
        return process

    yield start
    for running in started:  # a failed test leaves nothing behind
        running.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _holder(data: Path, role: str) -> int | None:
    """The pid recorded as the writer of ``role``'s database (None: none recorded)."""
    try:
        text = (data / (_FILES[role] + ".writer.lock")).read_text()
    except FileNotFoundError:
        return None
    return int(json.loads(text)["pid"]) if text else None


def _locked(data: Path, role: str) -> bool:
    """Whether some process holds the writer lock of ``role``'s database."""
    fd = os.open(data / _FILES[role], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, had it got one
    return False


def _holds(data: Path, role: str, pid: int) -> Callable[[], bool]:
    return lambda: _holder(data, role) == pid


def _serving(up: _Up, data: Path) -> dict[str, int]:
    """Wait until each role's latest process holds its lock; return their pids."""
    roles = tuple(_FILES)
    up.wait_for(lambda: all(up.pids(role) for role in roles), "every role is started")
    pids = {role: up.pids(role)[-1] for role in roles}
    for role, pid in pids.items():
        up.wait_for(_holds(data, role, pid), f"{role} (pid {pid}) is serving")
        assert _locked(data, role)
        assert _alive(pid)
    return pids


def test_up_runs_restarts_and_stops_every_role(up: Callable[..., _Up], tmp_path: Path) -> None:
    data = tmp_path / "data"
    running = up()
    pids = _serving(running, data)
    assert len(set(pids.values())) == 3  # one process per role
    assert f"{data.relative_to(tmp_path)}/logs/ROLE.log" in running.output()

    os.kill(pids["chatgpt_bot"], signal.SIGKILL)
    running.wait_for(lambda: len(running.pids("chatgpt_bot")) == 2, "chatgpt_bot is restarted")
    assert "restarting chatgpt_bot (exit -9) in 0.5 s" in running.output()
    restarted = running.pids("chatgpt_bot")[-1]
    assert restarted != pids["chatgpt_bot"]
    running.wait_for(_holds(data, "chatgpt_bot", restarted), "the new bot serves")
    assert _locked(data, "chatgpt_bot")
    # The others were left alone.
    assert running.pids("desktop_agent") == [pids["desktop_agent"]]
    assert running.pids("api_server") == [pids["api_server"]]

    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=_DEADLINE) == 0, running.output()
    for pid in (restarted, pids["desktop_agent"], pids["api_server"]):
        assert not _alive(pid)
    for role in _FILES:
        assert not _locked(data, role)
    output = running.output()
    assert f"stopped: chatgpt_bot (pid {restarted}, exit 0)" in output
    assert "all role processes stopped" in output
    # Each child's output is in its log, one run after the other.
    bot_log = (data / "logs" / "chatgpt_bot.log").read_text()
    assert f"serving chatgpt_bot (unified_tick_pipeline.db); pid {restarted}" in bot_log
    assert bot_log.count("tradebus up starts:") == 2


def test_up_stops_when_an_app_cannot_run(up: Callable[..., _Up], tmp_path: Path) -> None:
    running = up("--app", "api_server=nosuchmodule:main")
    assert running.process.wait(timeout=_DEADLINE) == 2
    running.wait_for(lambda: "not restarting" in running.output(), "up says why")
    output = running.output()
    assert "died: api_server" in output
    assert "no module named 'nosuchmodule'" in output
    assert "restarting api_server (" not in output


def test_up_refuses_an_app_of_an_unknown_role(up: Callable[..., _Up]) -> None:
    running = up("--app", "trader=tradebus.role_apps:chatgpt_bot")
    assert running.process.wait(timeout=_DEADLINE) == 2
    running.wait_for(lambda: "unknown role 'trader'" in running.output(), "the error")


def test_role_processes_stop_by_themselves_when_up_is_killed(
    up: Callable[..., _Up], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    running = up()
    pids = _serving(running, data)
    running.process.kill()  # no chance to stop its children
    running.process.wait(timeout=_DEADLINE)
    said = f"stopped (the supervisor (pid {running.process.pid}) is gone)"

    def log(role: str) -> str:
        return (data / "logs" / f"{role}.log").read_text()

    deadline = time.monotonic() + _DEADLINE
    while not all(said in log(role) for role in _FILES):
        assert time.monotonic() < deadline, "the role processes outlived their supervisor"
        time.sleep(0.05)
    for role, pid in pids.items():
        # Each drained, released its lock and said so (its last act).
        assert f"pid {pid}: " in log(role).splitlines()[-1]
        assert _holder(data, role) is None
        assert not _locked(data, role)


def test_up_kills_a_role_process_that_does_not_stop_in_time(
    up: Callable[..., _Up], tmp_path: Path
) -> None:
    (tmp_path / "stubborn.py").write_text(
        "import anyio\n\n\n"
        "async def main(node):\n"
        "    with anyio.CancelScope(shield=True):\n"
        "        await anyio.sleep(3600)\n"
    )
    data = tmp_path / "data"
    running = up("--app", "api_server=stubborn:main", "--stop-timeout", "5")
    pids = _serving(running, data)
    running.wait_for(
        lambda: "app stubborn:main started" in (data / "logs" / "api_server.log").read_text(),
        "the app runs",
    )
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=_DEADLINE) == 0
    output = running.output()
    assert f"killing api_server (pid {pids['api_server']}, SIGKILL): no stop within 5 s" in output
    assert f"stopped: api_server (pid {pids['api_server']}, exit -9)" in output
    assert f"stopped: chatgpt_bot (pid {pids['chatgpt_bot']}, exit 0)" in output
    assert not _locked(data, "api_server")


def test_up_runs_the_role_apps_through_a_trades_whole_life(
    up: Callable[..., _Up], tmp_path: Path
) -> None:
    (tmp_path / "fastapps.py").write_text(_FAST_APPS)
    data = tmp_path / "data"
    running = up(
        "--app", "chatgpt_bot=fastapps:bot",
        "--app", "desktop_agent=fastapps:agent",
        "--app", "api_server=fastapps:api",
    )  # fmt: skip
    # Executions logged by the agent reach the bot's database, the bot closes them,
    # the agent's recommendations are closed and the api_server alerts: 3 processes.
    running.wait_for(lambda: len(closed_and_alerted(data)) >= 2, "two trades live and die")
    assert "died:" not in running.output()
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=_DEADLINE) == 0, running.output()


def test_up_s_table_shows_bracketed_text_from_files_as_it_is(tmp_path: Path) -> None:
    # Errors and names come from log and status files others can write: rich markup
    # in them (an error naming "[/data/x.db]") must show as text, not stop the table.
    import io
    import types

    from rich.console import Console

    from tradebus._cli_up import _Display
    from tradebus._supervisor import Child

    out = io.StringIO()
    display = _Display(Console(file=out, width=200), tmp_path)
    child = Child(role="chatgpt_bot", command=[], log_path=tmp_path / "x.log", state="failed")
    child.last_exit, child.last_error = 1, "OSError: cannot open [/data/x.db] [bold]"
    display.supervisor = types.SimpleNamespace(children=[child])  # type: ignore[assignment]
    display.console.print(display._table())
    assert "cannot open [/data/x.db] [bold]" in out.getvalue()


def test_up_serves_the_http_api_and_passes_the_services_options_on(
    up: Callable[..., _Up], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    running = up("--candles", "M1,H1", "--monitor", "off", "--retain", "logs=30d")
    pids = _serving(running, data)
    api_log = data / "logs" / "api_server.log"
    listening = re.compile(r"the API listens on (http://\S+)")
    running.wait_for(lambda: bool(listening.search(api_log.read_text())), "the API listens")
    found = listening.search(api_log.read_text())
    assert found is not None
    response = httpx.get(found.group(1) + "/api/v1/openapi.json", timeout=_DEADLINE)
    assert response.status_code == 200
    for role, pid in pids.items():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[argv.index(b"--candles") :][:2] == [b"--candles", b"M1,H1"], role
        assert b"--monitor" in argv
        assert b"--retain" in argv
        assert (b"--http" in argv) == (role == "api_server"), role
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=_DEADLINE) == 0, running.output()


def test_up_refuses_an_option_its_processes_would_refuse(up: Callable[..., _Up]) -> None:
    running = up("--monitor", "sometimes")
    assert running.process.wait(timeout=_DEADLINE) == 2
    running.wait_for(lambda: "invalid choice: 'sometimes'" in running.output(), "the error")
    assert "started:" not in running.output()
