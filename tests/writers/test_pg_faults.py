"""The PostgreSQL store under faults, on real servers and processes: the server
killed and restarted while events flow, the writer's process killed mid-stream.
Afterwards every acknowledged event is stored exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

import schemas
from bench.servers import PostgresServer, ServerUnavailable
from eventbus import EventBus
from tests.writers._helpers import execution, tick
from tests.writers._pg import NewDatabase, database_dsn, pg_rows
from writers import MAIN, PostgresWriter, WriterError

RELAY_PROCESS = Path(__file__).with_name("pg_relay_process.py")


async def _server(folder: Path) -> PostgresServer:
    server = PostgresServer(folder)
    try:
        await anyio.to_thread.run_sync(server.start)
    except ServerUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    return server


async def _stored_once(dsn: str, acknowledged: int) -> None:
    """Ticks 1..acknowledged (their bid says which) are each stored once; nothing twice."""
    twice = await pg_rows(
        dsn, "SELECT bid, count(*) FROM unified_ticks GROUP BY bid HAVING count(*) > 1"
    )
    assert twice == []
    bids = {int(b) - 50_000 for (b,) in await pg_rows(dsn, "SELECT bid FROM unified_ticks")}
    missing = set(range(1, acknowledged + 1)) - bids
    assert not missing, f"{len(missing)} acknowledged ticks lost"


def _ignore_asyncpg_orphans() -> None:
    """asyncpg leaves a future it never awaits when the server ends an idle
    connection (the next query is refused by its protocol first, then the future
    gets the connection's end): the loop reports it when it is collected. That is
    asyncpg's noise, not a tradebus failure; anything else is reported as usual."""
    loop = asyncio.get_running_loop()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, asyncpg.ConnectionDoesNotExistError) and "never retrieved" in str(
            context.get("message", "")
        ):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def test_a_server_killed_and_restarted_while_events_flow(tmp_path: Path) -> None:
    _ignore_asyncpg_orphans()
    server = await _server(tmp_path / "pg")
    try:
        conn = await asyncpg.connect(server.dsn)
        await conn.execute("CREATE DATABASE flow")
        await conn.close()
        dsn = database_dsn(server.dsn, "flow")
        acknowledged = 0
        rounds = 80
        marks = {250: anyio.Event(), 1_000: anyio.Event()}  # acknowledged so far
        async with (
            EventBus(admit=schemas.admit) as bus,
            PostgresWriter(bus, MAIN, dsn, max_batch=60, max_backoff=0.2),
        ):

            async def flow() -> None:
                nonlocal acknowledged
                for r in range(rounds):
                    for n in range(r * 25 + 1, r * 25 + 26):
                        await bus.publish(tick(n))
                    await bus.publish(execution(1_000 + r))
                    await bus.flush()
                    acknowledged = r * 25 + 25
                    for after, mark in marks.items():
                        if acknowledged >= after:
                            mark.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(flow)
                # A crash, then a clean restart, each while events flow (the flow
                # is far from its end at either).
                for restart, after in ((server.kill, 250), (server.stop, 1_000)):
                    with anyio.fail_after(60):
                        await marks[after].wait()
                    await anyio.to_thread.run_sync(restart)
                    await anyio.to_thread.run_sync(server.start)
        assert acknowledged == rounds * 25
        await _stored_once(dsn, acknowledged)
        assert await pg_rows(
            dsn, "SELECT count(*), count(DISTINCT ticket) FROM trade_executions"
        ) == [(rounds, rounds)]
        assert await pg_rows(dsn, "SELECT count(*) FROM dead_letters") == [(0,)]
        [(seqs, top)] = await pg_rows(
            dsn, "SELECT count(DISTINCT seq), max(seq) FROM unified_ticks"
        )
        assert seqs == top == rounds * 25  # no seq skipped or taken twice
    finally:
        await anyio.to_thread.run_sync(server.close)


async def _relay_process(dsn: str, total: int, *, kill_after: int | None) -> int:
    """Run the relay process; SIGKILL it once it acknowledged ``kill_after`` ticks.
    Return the last position it said was acknowledged."""
    process = await anyio.open_process(
        [sys.executable, str(RELAY_PROCESS), dsn, str(total)],
        stdout=subprocess.PIPE,
        stderr=None,
    )
    acked = 0
    try:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        with anyio.fail_after(60):
            while True:
                line = (await lines.receive_until(b"\n", 1024)).decode()
                if line.startswith("acked "):
                    acked = int(line.split()[1])
                    if kill_after is not None and acked >= kill_after:
                        process.send_signal(signal.SIGKILL)
                        break
                if line == "done":
                    break
    finally:
        if process.returncode is None and kill_after is None:
            await process.wait()
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            await process.aclose()
    return acked


async def test_a_writer_process_killed_mid_stream_resumes_exactly_once(
    pg_database: NewDatabase,
) -> None:
    dsn = await pg_database()
    total = 3_000
    acked = await _relay_process(dsn, total, kill_after=1_000)
    assert 1_000 <= acked < total
    await _stored_once(dsn, acked)  # what it acknowledged before it died
    assert await _relay_process(dsn, total, kill_after=None) == total
    await _stored_once(dsn, total)
    assert await pg_rows(dsn, "SELECT count(*) FROM unified_ticks") == [(total,)]
    assert await pg_rows(dsn, "SELECT cursor FROM relay_cursors") == [(total,)]


async def test_a_server_that_stops_answering_ends_the_writer_in_bounded_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's backend frozen (SIGSTOP) while events flow: the writer does not
    wait for it for ever. It gives up within its timeouts, says so (each retry names
    the timeout, not an empty message), and every event it acknowledged is stored
    once."""
    _ignore_asyncpg_orphans()
    server = await _server(tmp_path / "pg")
    backend: int | None = None
    try:
        conn = await asyncpg.connect(server.dsn)
        await conn.execute("CREATE DATABASE frozen")
        await conn.close()
        dsn = database_dsn(server.dsn, "frozen")
        acknowledged = 0

        async def flow() -> None:
            nonlocal acknowledged, backend
            async with (
                EventBus(admit=schemas.admit) as bus,
                PostgresWriter(
                    bus,
                    MAIN,
                    dsn,
                    max_batch=50,
                    max_backoff=0.2,
                    drain_timeout=2.0,
                    command_timeout=1.0,
                ),  # fmt: skip
            ):
                for n in range(1, 201):
                    await bus.publish(tick(n), wait=True)
                    acknowledged = n
                [(backend,)] = await pg_rows(
                    dsn,
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                    "tradebus writer main",
                )
                os.kill(backend, signal.SIGSTOP)
                for n in range(201, 401):
                    bus.publish_nowait(tick(n))

        with anyio.fail_after(60), pytest.raises(WriterError) as raised:
            await flow()
        assert "main" in str(raised.value)
        said = [str(raised.value), *(r.getMessage() for r in caplog.records)]
        assert not [line for line in said if re.search(r"Error: ?[);]", line)], said
        retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert retries
        assert all("TimeoutError: ;" not in line for line in retries), retries
        assert any("no answer in time" in line for line in retries), retries
        assert backend is not None
        os.kill(backend, signal.SIGCONT)
        backend = None
        await _stored_once(dsn, acknowledged)
    finally:
        if backend is not None:
            os.kill(backend, signal.SIGCONT)
        await anyio.to_thread.run_sync(server.close)


async def _frozen_writer_backend(dsn: str) -> int:
    [(pid,)] = await pg_rows(
        dsn, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", "tradebus writer main"
    )
    os.kill(pid, signal.SIGSTOP)
    return int(pid)


async def test_a_frozen_server_bounds_reads_and_a_cancelled_writer_by_its_timeouts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's backend frozen: a read of a cursor fails within the command
    timeout, saying so; a writer cancelled mid-flow stops within its drain timeout
    (not its longer command timeout), and what it says names every error (none is an
    empty 'TimeoutError: '); what it acknowledged is stored once."""
    _ignore_asyncpg_orphans()
    server = await _server(tmp_path / "pg")
    frozen: list[int] = []
    try:
        conn = await asyncpg.connect(server.dsn)
        await conn.execute("CREATE DATABASE reads")
        await conn.execute("CREATE DATABASE drain")
        await conn.close()
        dsn = database_dsn(server.dsn, "reads")
        async with (
            EventBus(admit=schemas.admit) as bus,
            PostgresWriter(bus, MAIN, dsn, command_timeout=1.0, drain_timeout=2.0) as writer,
        ):
            await bus.publish(tick(1), wait=True)
            frozen.append(await _frozen_writer_backend(dsn))
            with (
                anyio.fail_after(10),
                pytest.raises(WriterError, match="did not answer within 1 s while reading"),
            ):
                await writer.cursor_of("somewhere")
        os.kill(frozen.pop(), signal.SIGCONT)

        dsn = database_dsn(server.dsn, "drain")
        acknowledged = 0
        started = 0.0
        said: list[str] = []
        async with EventBus(admit=schemas.admit) as bus:
            with anyio.move_on_after(30) as outer:
                try:
                    async with PostgresWriter(bus, MAIN, dsn, max_batch=20, drain_timeout=2.0):
                        for n in range(1, 101):
                            await bus.publish(tick(n), wait=True)
                            acknowledged = n
                        frozen.append(await _frozen_writer_backend(dsn))
                        for n in range(101, 201):
                            bus.publish_nowait(tick(n))
                        started = anyio.current_time()
                        outer.deadline = started + 0.5  # the cancellation, while it is stuck
                        await anyio.sleep_forever()
                except WriterError as exc:
                    said.append(str(exc))
            stopped = anyio.current_time() - started
        assert stopped < 10, f"the cancelled writer took {stopped:.1f} s to stop"
        said += [record.getMessage() for record in caplog.records]
        assert not [line for line in said if re.search(r"Error: ?[);]", line)], said
        os.kill(frozen.pop(), signal.SIGCONT)
        await _stored_once(dsn, acknowledged)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        await anyio.to_thread.run_sync(server.close)
