"""Files deleted under a running writer: the -wal, the -shm or the database itself.

A ``publish(wait=True)``, ``flush()`` or ``log_*`` call that returns promises that
its events are in their database. A writer that finds one of its files gone stops and
refuses what follows, having kept every event it acknowledged (in a crash right after,
too).
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from eventbus import BusClosed, EventBusError
from writers import MAIN, WriterError

from ._helpers import Writer, bus_and_writer, execution, rows, script

_MAIN = MAIN.filename


async def ingest_until_refused(
    path: Path, suffix: str, *, concurrent: bool
) -> tuple[list[int], BaseException, Writer]:
    """Publish executions with wait=True until the bus refuses one; delete the file
    ``path + suffix`` once 20 are acknowledged (from another thread while events flow,
    or between two publishes). Return the acknowledged tickets, the refusal, the writer."""
    acknowledged: list[int] = []
    enough = anyio.Event()
    async with bus_and_writer(MAIN, path, max_delay=0.001) as (bus, writer):

        async def delete_when_enough() -> None:
            await enough.wait()
            await anyio.to_thread.run_sync(os.unlink, f"{path}{suffix}")

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                if concurrent:
                    tg.start_soon(delete_when_enough)
                for ticket in itertools.count(1):
                    try:
                        await bus.publish(execution(ticket), wait=True)
                    except EventBusError as exc:
                        refused: BaseException = exc
                        break
                    acknowledged.append(ticket)
                    if len(acknowledged) == 20:
                        if concurrent:
                            enough.set()
                        else:
                            os.unlink(f"{path}{suffix}")
            await writer.stopped.wait()
    return acknowledged, refused, writer


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
@pytest.mark.parametrize("concurrent", [False, True], ids=["between", "while-flowing"])
async def test_a_deleted_wal_or_shm_stops_the_writer_and_keeps_every_acknowledged_event(
    tmp_path: Path, suffix: str, concurrent: bool
) -> None:
    path = tmp_path / _MAIN
    async with bus_and_writer(MAIN, path):
        pass  # the database exists
    # Another connection stays open throughout: the writer's connection, closing, is
    # then not the last one, so SQLite does not checkpoint the (unlinked) WAL into the
    # database on close. Only the writer's own rescue can save what it acknowledged.
    with closing(sqlite3.connect(path)) as keeper:
        keeper.execute("SELECT count(*) FROM trade_executions").fetchall()
        acknowledged, refused, writer = await ingest_until_refused(
            path, suffix, concurrent=concurrent
        )
        # Read as a crash would leave it: whatever was only in the unlinked WAL is gone.
        stored = {ticket for (ticket,) in rows(path, "SELECT ticket FROM trade_executions")}
        assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert isinstance(refused, BusClosed)
    assert isinstance(refused.__cause__, WriterError)
    assert refused.__cause__ is writer.error
    message = str(writer.error)
    assert f"{path}{suffix} vanished while its writer ran" in message
    assert "every committed transaction was copied into" in message
    assert len(acknowledged) >= 20
    assert set(acknowledged) <= stored


async def test_a_deleted_database_stops_the_writer_before_it_acknowledges_more(
    tmp_path: Path,
) -> None:
    path = tmp_path / _MAIN
    acknowledged, refused, writer = await ingest_until_refused(path, "", concurrent=True)
    assert len(acknowledged) >= 20
    assert isinstance(refused, BusClosed)
    assert refused.__cause__ is writer.error
    assert f"{path} vanished while its writer ran" in str(writer.error)


@pytest.mark.parametrize("flow", ["busy", "idle"])
async def test_a_crash_right_after_the_writer_noticed_a_deleted_wal_loses_nothing_acknowledged(
    tmp_path: Path, flow: str
) -> None:
    # idle: the -wal is deleted once the events stopped; the writer watches its files
    # while idle too, and saves what the deleted WAL holds before the crash.
    path = tmp_path / _MAIN
    log = tmp_path / "acknowledged.log"
    with anyio.fail_after(90):
        process = await anyio.run_process(
            [*script("wal_worker.py"), str(path), str(log), *(["idle"] if flow == "idle" else [])],
            check=False,
            stderr=None,
        )
    assert process.returncode == -signal.SIGKILL  # it noticed, and crashed right then
    acknowledged = {int(line) for line in log.read_text().split("\n")[:-1]}
    assert len(acknowledged) >= 50
    stored = {ticket for (ticket,) in rows(path, "SELECT ticket FROM trade_executions")}
    assert acknowledged <= stored
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
