"""One writer per file: a second writer is refused, in this process or another."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

import schemas
from eventbus import EventBus
from writers import (
    MAIN,
    WriterActor,
    WriterError,
    WriterLock,
    WriterLockError,
    create_database,
    lock_path,
)

from ._helpers import count, execution, running_writer, writer_process

#: The helper script that takes writer locks on command in another process.
CONTENDER = Path(__file__).with_name("lock_contender.py")


async def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, role="chatgpt_bot") as (bus, _):
        with pytest.raises(WriterLockError) as refused:
            async with WriterActor(bus, MAIN, path, role="intruder"):
                pytest.fail("a second writer started")
        bus.publish_nowait(execution(1))  # the first writer is unaffected
        await bus.flush()
    assert (refused.value.pid, refused.value.role) == (os.getpid(), "chatgpt_bot")
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "chatgpt_bot" in str(refused.value)
    assert count(path, "trade_executions") == 1


async def test_the_lock_is_released_when_the_writer_exits(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN):
        pass
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1))
        await bus.flush()
    assert count(path, "trade_executions") == 1


async def test_a_writer_in_another_process_refuses_ours_naming_its_pid_and_role(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    async with (
        writer_process("hold", path, "chatgpt_bot") as holder,
        EventBus(admit=schemas.admit) as bus,
    ):
        with pytest.raises(WriterLockError) as refused:
            async with WriterActor(bus, MAIN, path, role="desktop_agent"):
                pytest.fail("a second writer started")
    assert (refused.value.pid, refused.value.role) == (holder.pid, "chatgpt_bot")
    assert f"pid {holder.pid}" in str(refused.value)


async def test_the_lock_is_free_once_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with writer_process("hold", path, "chatgpt_bot") as holder:
        holder.send_signal(signal.SIGKILL)
        assert await holder.wait() == -signal.SIGKILL
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1))
        await bus.flush()
    assert count(path, "trade_executions") == 1


# ------------------------------------------------------------ files beside the database


@asynccontextmanager
async def contender(*prefix: str) -> AsyncIterator[Contender]:
    """A :data:`CONTENDER` process (run under ``prefix``, e.g. ``unshare``); killed on exit."""
    process = await anyio.open_process(
        [*prefix, sys.executable, str(CONTENDER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        yield Contender(process, BufferedByteReceiveStream(process.stdout))
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()


class Contender:
    """Commands to a lock contender process, and its answers."""

    def __init__(self, process: Process, stdout: BufferedByteReceiveStream) -> None:
        self.process = process
        self._stdout = stdout

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(f"{command}\n".encode())

    async def answer(self) -> dict[str, Any]:
        with anyio.fail_after(30):
            line = await self._stdout.receive_until(b"\n", 65536)
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, command: str) -> dict[str, Any]:
        await self.send(command)
        return await self.answer()


async def test_deleting_the_lock_file_does_not_admit_a_second_writer(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with (
        writer_process("hold", path, "chatgpt_bot") as holder,
        EventBus(admit=schemas.admit) as bus,
    ):
        lock_path(path).unlink()
        with pytest.raises(WriterLockError) as refused:
            async with WriterActor(bus, MAIN, path, role="intruder"):
                pytest.fail("a second writer started")
        assert refused.value.pid == holder.pid
        assert f"pid {holder.pid}" in str(refused.value)
        # A forged record in its place changes nothing either: the kernel names the holder.
        lock_path(path).write_text('{"pid": 1, "role": "forged"}')
        with pytest.raises(WriterLockError) as refused:
            async with WriterActor(bus, MAIN, path, role="intruder"):
                pytest.fail("a second writer started")
        assert refused.value.pid == holder.pid
        assert refused.value.role is None
        assert str(refused.value).startswith(f"{path} already has a writer: pid {holder.pid};")
    assert count(path, "trade_executions") == 0


@pytest.mark.parametrize("link", ["lock", "database", "wal", "shm"])
async def test_a_symbolic_link_beside_the_database_is_never_followed(
    tmp_path: Path, link: str
) -> None:
    path = tmp_path / MAIN.filename
    if link != "database":
        async with running_writer(path, MAIN):
            pass
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0:root:/root:/bin/bash\n")
    names = {"lock": lock_path(path), "database": path}
    names |= {"wal": Path(f"{path}-wal"), "shm": Path(f"{path}-shm")}
    names[link].unlink(missing_ok=True)
    names[link].symlink_to(victim)
    for start in (_start_writer, _init):
        with pytest.raises(WriterError, match="symbolic link") as refused:
            await start(path)
        assert str(names[link]) in str(refused.value)
        assert victim.read_text() == "root:x:0:0:root:/root:/bin/bash\n"


async def _start_writer(path: Path) -> None:
    async with running_writer(path, MAIN):
        pytest.fail("the writer started")


async def _init(path: Path) -> None:
    await create_database(MAIN, path)


async def test_a_lock_file_with_other_hard_links_or_not_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN):
        pass
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0:root:/root:/bin/bash\n")
    lock_path(path).unlink()
    os.link(victim, lock_path(path))
    with pytest.raises(WriterError, match="hard links"):
        async with running_writer(path, MAIN):
            pytest.fail("the writer started")
    assert victim.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    lock_path(path).unlink()
    os.mkfifo(lock_path(path))
    with anyio.fail_after(10), pytest.raises(WriterError, match="not a regular file"):
        async with running_writer(path, MAIN):
            pytest.fail("the writer started")
    lock_path(path).unlink()
    lock_path(path).mkdir()
    with pytest.raises(WriterError, match=str(lock_path(path))):
        async with running_writer(path, MAIN):
            pytest.fail("the writer started")


async def test_a_forked_child_never_holds_the_writer_lock(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with contender() as parent:
        assert (await parent.ask(f"acquire {path} chatgpt_bot"))["won"]
        child = (await parent.ask("fork"))["child"]
        try:
            # The parent keeps its lock while the child lives...
            refused = WriterLock(path, "intruder")
            with pytest.raises(WriterLockError) as held:
                refused.acquire()
            assert held.value.pid == parent.process.pid
            # ...can release it and take it again...
            assert (await parent.ask("release"))["released"]
            assert (await parent.ask(f"acquire {path} chatgpt_bot"))["won"]
            # ...and once it is killed, the lock is free though the child lives on.
            parent.process.kill()
            await parent.process.wait()
            os.kill(child, 0)  # the child is still alive (this raises if it is not)
            async with running_writer(path, MAIN) as (bus, _):
                bus.publish_nowait(execution(1))
                await bus.flush()
        finally:
            os.kill(child, signal.SIGKILL)
    assert count(path, "trade_executions") == 1


async def test_racing_writers_one_wins_and_the_loser_names_it_truthfully(tmp_path: Path) -> None:
    async with contender() as first, contender() as second:
        by_pid = {first.process.pid: "first", second.process.pid: "second"}
        for round_ in range(40):
            directory = tmp_path / str(round_)
            directory.mkdir()
            path = directory / MAIN.filename  # missing: both also race to create it
            await first.send(f"acquire {path} first")
            await second.send(f"acquire {path} second")
            answers = [await first.answer(), await second.answer()]
            winners = [answer for answer in answers if answer.get("won")]
            losers = [answer for answer in answers if answer.get("won") is False]
            assert (len(winners), len(losers)) == (1, 1), answers
            [winner], [loser] = winners, losers
            assert (loser["pid"], loser["role"]) == (winner["pid"], by_pid[winner["pid"]])
            assert f"pid {winner['pid']} (role {by_pid[winner['pid']]!r})" in loser["message"]
            assert path.read_bytes()[:16] == b"SQLite format 3\x00"
            for process in (first, second):
                assert (await process.ask("release"))["released"]


async def test_a_holder_in_another_pid_namespace_is_named_by_its_pid_here(
    tmp_path: Path,
) -> None:
    unshare = _unshare()
    path = tmp_path / MAIN.filename
    async with contender(unshare, "--pid", "--fork") as holder:
        assert (await holder.ask(f"acquire {path} chatgpt_bot")) == {"won": True, "pid": 1}
        [python] = _children(holder.process.pid)
        with pytest.raises(WriterLockError) as refused:
            WriterLock(path, "intruder").acquire()
    assert refused.value.pid == int(python)
    assert str(refused.value).startswith(f"{path} already has a writer: pid {python};")
    assert "its lock file names pid 1" in str(refused.value)


async def test_a_holder_this_process_cannot_see_is_said_to_be_unseen(tmp_path: Path) -> None:
    unshare = _unshare()
    path = tmp_path / MAIN.filename
    async with (
        running_writer(path, MAIN, role="chatgpt_bot"),
        contender(unshare, "--pid", "--fork", "--mount-proc") as outsider,
    ):
        refused = await outsider.ask(f"acquire {path} intruder")
    assert "won" in refused, refused
    assert (refused["won"], refused["pid"], refused["role"]) == (False, None, "chatgpt_bot")
    assert "a process this one cannot see (in another PID namespace?)" in refused["message"]
    assert f"its lock file says pid {os.getpid()}, role 'chatgpt_bot'" in refused["message"]
    assert refused["message"].endswith("stop that writer, or read the database read-only")


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def _unshare() -> str:
    unshare = shutil.which("unshare")
    if (
        unshare is None
        or subprocess.run(
            [unshare, "--pid", "--fork", "--mount-proc", "true"], check=False
        ).returncode
    ):
        pytest.skip("needs unshare and the right to make PID namespaces (root)")
    return unshare


_OLDER_TRADEBUS = """
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, json.dumps({"pid": os.getpid(), "role": "old_bot"}).encode())
print("locked", flush=True)
sys.stdin.read()
"""


async def test_an_older_tradebus_that_locks_only_the_lock_file_is_respected(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN):
        pass
    older = await anyio.open_process(
        [sys.executable, "-c", _OLDER_TRADEBUS, str(lock_path(path))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    async with older:
        assert older.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(older.stdout).receive_until(b"\n", 64)
        assert line == b"locked"
        try:
            with pytest.raises(WriterLockError) as refused:
                async with running_writer(path, MAIN, role="chatgpt_bot"):
                    pytest.fail("a second writer started")
        finally:
            older.kill()
    assert (refused.value.pid, refused.value.role) == (older.pid, "old_bot")
    async with running_writer(path, MAIN) as (bus, _):  # and once it is gone, ours starts
        bus.publish_nowait(execution(1))
        await bus.flush()
    assert count(path, "trade_executions") == 1
