"""One ``tradebus run`` child process per role, restarted with backoff when it dies."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import Process

from ._cli_run import EXIT_LOCKED, EXIT_USAGE
from ._signals import StopSignals

__all__ = ["Child", "ChildState", "Supervisor", "describe_exit", "run_command"]

ChildState = Literal["starting", "running", "restarting", "stopping", "stopped", "failed"]

_POLL = 0.1  # seconds between two looks at the signals
_LOG_TAIL = 16_384  # bytes of a child's log read for its last error


def run_command(
    data_dir: Path,
    role: str,
    app: str | None,
    supervisor_pid: int | None = None,
    options: Sequence[str] = (),
) -> list[str]:
    """The command line of one role process (``options``: more of ``tradebus run``'s)."""
    command = [sys.executable, "-m", "tradebus", "run", "--data-dir", str(data_dir)]
    command += ["--role", role, *options]
    if app is not None:
        command += ["--app", app]
    if supervisor_pid is not None:
        command += ["--supervisor-pid", str(supervisor_pid)]
    return command


def describe_exit(code: int) -> str:
    """``-9`` -> ``"killed by SIGKILL"``, ``3`` -> ``"its database has a writer already"``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return {
        0: "stopped",
        1: "failed",
        EXIT_USAGE: "refused its arguments",
        EXIT_LOCKED: "its database has a writer already",
    }.get(code, "failed")


@dataclasses.dataclass
class Child:
    """One role's process, as the supervisor knows it."""

    role: str
    command: list[str]
    log_path: Path
    state: ChildState = "starting"
    pid: int | None = None
    #: ``time.monotonic()`` when the current process was started.
    started: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    #: The last error line the process logged, or why it could not start.
    last_error: str | None = None
    process: Process | None = None
    done: anyio.Event = dataclasses.field(default_factory=anyio.Event)


class Supervisor:
    """Start one child per role, restart those that die, stop them all on a signal.

    A child that died is restarted after ``min_delay`` seconds, doubling with every
    quick death up to ``max_delay``; a child that ran ``stable`` seconds starts over
    from ``min_delay``. A child refusing its arguments (exit 2), or finding its
    database locked by another process on its first start (exit 3), is not restarted:
    the supervisor stops the others and ends with that status.

    ``say`` receives one line per event: started, died, restarting, stopped.
    """

    def __init__(
        self,
        data_dir: Path,
        apps: Mapping[str, str | None],
        say: Callable[[str], None],
        *,
        stop_timeout: float = 30.0,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
        stable: float = 10.0,
        options: Sequence[str] = (),
        role_options: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.data_dir = data_dir
        #: More options of every ``tradebus run`` child, and of one role's.
        self.options = tuple(options)
        self.role_options = {role: tuple(o) for role, o in (role_options or {}).items()}
        self.log_dir = data_dir / "logs"
        self.say = say
        self.stop_timeout = stop_timeout
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.stable = stable
        self.children = [
            Child(
                role=role,
                command=run_command(
                    data_dir,
                    role,
                    app,
                    os.getpid(),
                    (*self.options, *self.role_options.get(role, ())),
                ),
                log_path=self.log_dir / f"{role}.log",
            )
            for role, app in apps.items()
        ]
        self.stopping = False
        self._stop_requested = anyio.Event()
        #: Set when a child cannot be run (see the class doc): the exit status.
        self.fatal: int | None = None

    async def run(self, stop: StopSignals, tick: Callable[[], None] | None = None) -> int:
        """Supervise until ``stop`` gets a signal (or a child cannot be run), then stop
        every child; return the exit status (0, or the fatal child's)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        async with anyio.create_task_group() as tg:
            for child in self.children:
                tg.start_soon(self._keep, child)
            while stop.first is None and self.fatal is None:
                if tick is not None:
                    tick()
                await anyio.sleep(_POLL)
            self.stopping = True
            self._stop_requested.set()
            why = signal.Signals(stop.first).name if stop.first is not None else "a role failed"
            await self._stop_all(why, stop)
            tg.cancel_scope.cancel()
        return self.fatal if self.fatal is not None else 0

    async def _keep(self, child: Child) -> None:
        delay = self.min_delay
        first = True
        try:
            while not self.stopping:
                code = await self._run_once(child)
                if self.stopping:
                    return
                ran = time.monotonic() - child.started
                reason = describe_exit(code)
                self.say(
                    f"died: {child.role} (pid {child.pid}) exited {code} ({reason}) after "
                    f"{ran:.1f} s" + (f": {child.last_error}" if child.last_error else "")
                )
                if code == EXIT_USAGE or (first and code == EXIT_LOCKED):
                    child.state = "failed"
                    self.say(f"not restarting {child.role}: see {child.log_path}")
                    if self.fatal is None:
                        self.fatal = code
                    return
                first = False
                if ran >= self.stable:
                    delay = self.min_delay
                child.state = "restarting"
                self.say(f"restarting {child.role} (exit {code}) in {delay:.1f} s")
                with anyio.move_on_after(delay):
                    await self._stop_requested.wait()
                delay = min(delay * 2, self.max_delay)
                child.restarts += 1
        finally:
            if child.state != "failed":
                child.state = "stopped"
            child.done.set()

    async def _run_once(self, child: Child) -> int:
        """Start ``child``'s process and wait for it to exit; return its exit status."""
        child.state = "starting"
        child.started = time.monotonic()
        child.pid = None
        try:
            with child.log_path.open("ab") as log:
                stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                log.write(f"==== {stamp} tradebus up starts: {' '.join(child.command)}\n".encode())
                log.flush()
                process = await anyio.open_process(
                    child.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
        except OSError as exc:
            child.last_error = f"cannot start {child.role}: {exc}"
            child.last_exit = 1
            return 1
        child.process = process
        child.pid = process.pid
        child.state = "running"
        self.say(f"started: {child.role} (pid {process.pid})")
        if self.stopping:  # started while the others were told to stop
            child.state = "stopping"
            _signal(child, signal.SIGTERM)
        code = await process.wait()
        child.process = None
        child.last_exit = code
        child.last_error = last_error_line(child.log_path)
        return code

    async def _stop_all(self, why: str, stop: StopSignals) -> None:
        running = [c for c in self.children if c.process is not None]
        self.say(
            f"stopping ({why}): SIGTERM to {len(running)} role process(es); waiting up to "
            f"{self.stop_timeout:g} s for them to commit what they hold"
        )
        for child in running:
            child.state = "stopping"
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        signals = len(stop.received)
        while not all(c.done.is_set() for c in self.children):
            if time.monotonic() > deadline or len(stop.received) > signals:
                late = [c for c in self.children if c.process is not None]
                cause = (
                    "a second signal"
                    if len(stop.received) > signals
                    else f"no stop within {self.stop_timeout:g} s"
                )
                for child in late:
                    self.say(f"killing {child.role} (pid {child.pid}, SIGKILL): {cause}")
                    _signal(child, signal.SIGKILL)
                deadline = float("inf")
                signals = len(stop.received)
            await anyio.sleep(_POLL)
        for child in running:
            if child.last_exit is not None:
                self.say(f"stopped: {child.role} (pid {child.pid}, exit {child.last_exit})")


def _signal(child: Child, signum: signal.Signals) -> None:
    process = child.process
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            process.send_signal(signum)


def last_error_line(log_path: Path) -> str | None:
    """The last ``tradebus: error:`` line of a child's current run in its log."""
    try:
        with log_path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(size - _LOG_TAIL, 0))
            tail = log.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = None
    for line in tail.splitlines():
        if line.startswith("==== "):
            found = None  # a new run of the child starts here
        elif line.startswith("tradebus: error: "):
            found = line.removeprefix("tradebus: error: ").strip()
    return found
