"""One writer per file: a second writer is refused, in this process or another."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import schemas
from eventbus import EventBus
from writers import MAIN, WriterActor, WriterLockError

from ._helpers import count, execution, running_writer, writer_process


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
