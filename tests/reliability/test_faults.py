"""Faults injected into a live writer: each is survived with zero loss, or fails loudly."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from schemas import Tick
from tests.writers._helpers import read_only_directory
from tradebus import Node, open_node
from writers import WriterError

from ._helpers import count, integrity, read_only, script, wait_until

_MAIN = "unified_tick_pipeline.db"
_PAGE = 4096


def tick(n: int, source: str = "") -> Tick:
    return Tick(symbol="BTCUSDT", bid=50_000.0 + n % 100, ask=50_001.0, source=source)


async def publish_ticks(node: Node, n: int, done: list[int], source: str = "") -> None:
    """Publish ``n`` ticks, waiting for room (backpressure); count them in ``done``."""
    for i in range(n):
        await node.bus.publish(tick(i, source))
        done[0] += 1


async def execution(node: Node, ticket: int) -> str:
    return await node.integration("chatgpt_bot").log_trade_execution(
        ticket=ticket,
        symbol="BTCUSDT",
        direction="BUY",
        entry_price=50_000.0,
        stop_loss=49_500.0,
        take_profit=51_000.0,
        volume=0.01,
    )


async def stalled(node: Node, published: list[int], limit: int) -> None:
    """Wait until the main writer retries and publishers are held at ``limit`` or below."""
    writer = node.writer("main")
    await wait_until(lambda: writer.statistics().retries >= 2)
    # They may still be filling the buffer (a busy machine): they must stop, soon.
    with anyio.fail_after(30):  # else: publishers were not slowed down
        while True:
            before = published[0]
            await anyio.sleep(0.3)
            if published[0] == before:
                break
    assert before <= limit


# --------------------------------------------------------------------- disk full


async def test_disk_full_is_retried_and_loses_nothing_once_space_returns(tmp_path: Path) -> None:
    async with open_node(tmp_path, max_buffer=1_000, max_batch=500, max_backoff=0.1) as node:
        writer = node.writer("main")
        sql = writer.sqlite.query  # on the writer's own connection
        await execution(node, 1)
        [(pages,)] = await sql("PRAGMA page_count")
        # The writer's own connection may not grow the file beyond two more pages.
        await sql(f"PRAGMA max_page_count = {pages + 2}")
        published = [0]
        event_ids: list[str] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(publish_ticks, node, 20_000, published)
            await stalled(node, published, 1_000 + 500)

            async def log_execution() -> None:
                event_ids.append(await execution(node, 2))

            tg.start_soon(log_execution)
            await anyio.sleep(0.2)
            assert event_ids == [], "an execution was acknowledged while the disk was full"
            statistics = writer.statistics()
            assert statistics.pending > 0
            assert statistics.last_error is not None
            assert "full" in statistics.last_error
            await sql("PRAGMA max_page_count = 1073741823")
        await node.bus.flush()
        assert writer.statistics().dead_letters == 0
    assert count(tmp_path / _MAIN, "unified_ticks") == 20_000
    assert count(tmp_path / _MAIN, "trade_executions", "event_id = ?", event_ids[0]) == 1
    assert integrity(tmp_path / _MAIN) == "ok"


async def test_disk_full_at_shutdown_gives_up_loudly_after_the_drain_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event_ids: list[str] = []
    with anyio.CancelScope() as scope:
        async with open_node(
            tmp_path, max_buffer=1_000, max_batch=500, max_backoff=0.1, drain_timeout=1.0
        ) as node:
            sql = node.writer("main").sqlite.query  # on the writer's own connection
            [(pages,)] = await sql("PRAGMA page_count")
            await sql(f"PRAGMA max_page_count = {pages}")

            async def log_execution() -> None:
                event_ids.append(await execution(node, 1))

            async with anyio.create_task_group() as tg:
                # Ticks first, so that the disk is full before the execution comes: a
                # lone execution committed first would fit in the pages there are.
                tg.start_soon(publish_ticks, node, 10_000, [0])
                await wait_until(lambda: node.writer("main").statistics().retries >= 2)
                tg.start_soon(log_execution)
                await anyio.sleep(0.2)  # it is published behind the held batch, or waits
                stopping = time.monotonic()
                scope.cancel()  # the disk never frees up: shut down anyway
    shutdown = time.monotonic() - stopping
    assert shutdown < 5, f"shutting down took {shutdown:.1f}s"
    assert event_ids == [], "an execution was acknowledged although it was never stored"
    assert "could not be committed before shutdown" in caplog.text
    assert count(tmp_path / _MAIN, "trade_executions") == 0
    assert integrity(tmp_path / _MAIN) == "ok"


async def test_an_error_in_the_body_is_raised_within_the_drain_timeout_on_a_full_disk(
    tmp_path: Path,
) -> None:
    # The body fails while the disk is full: the node leaves as it does when cancelled
    # (the writer gives up after its drain_timeout) and the body's error reaches the
    # caller, rather than the node waiting for space for ever; nothing it did not store
    # is acknowledged.
    event_ids: list[str] = []
    stopping = [0.0]

    async def fail_on_a_full_disk() -> None:
        async with open_node(
            tmp_path, max_buffer=1_000, max_batch=500, max_backoff=0.1, drain_timeout=1.0
        ) as node:
            sql = node.writer("main").sqlite.query
            [(pages,)] = await sql("PRAGMA page_count")
            await sql(f"PRAGMA max_page_count = {pages}")
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_ticks, node, 10_000, [0])
                await wait_until(lambda: node.writer("main").statistics().retries >= 2)

                async def log_execution() -> None:
                    event_ids.append(await execution(node, 1))

                tg.start_soon(log_execution)
                await anyio.sleep(0.2)
                stopping[0] = time.monotonic()
                raise ValueError("the strategy failed")

    with anyio.fail_after(30), pytest.raises(BaseExceptionGroup) as raised:
        await fail_on_a_full_disk()  # the body's task group wraps what it raised
    assert raised.group_contains(ValueError, match="the strategy failed")
    shutdown = time.monotonic() - stopping[0]
    assert shutdown < 8, f"shutting down took {shutdown:.1f}s"
    assert event_ids == []
    assert count(tmp_path / _MAIN, "trade_executions") == 0
    assert integrity(tmp_path / _MAIN) == "ok"


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (skips the test where mounting is not allowed)."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny filesystem needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


async def test_full_filesystem_is_retried_and_loses_nothing_once_space_returns(
    tmp_path: Path,
) -> None:
    with tiny_filesystem(tmp_path / "fs", "1m") as fs:
        async with open_node(fs / "data", max_buffer=1_000, max_batch=500, max_backoff=0.1) as node:
            published = [0]
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_ticks, node, 40_000, published, "x" * 50)
                await stalled(node, published, 40_000)
                last_error = node.writer("main").statistics().last_error
                assert last_error is not None
                assert "full" in last_error
                # The operator frees space: the filesystem grows.
                await anyio.run_process(["mount", "-o", "remount,size=64m", str(fs)])
            await node.bus.flush()
        assert count(fs / "data" / _MAIN, "unified_ticks") == 40_000
        assert integrity(fs / "data" / _MAIN) == "ok"


# ----------------------------------------------------------- read-only directory


async def test_read_only_data_dir_does_not_disturb_a_live_writer(tmp_path: Path) -> None:
    # Permissions are checked when a file is opened: a running writer has all its
    # files (database, WAL, shared memory, lock) open, so it carries on.
    async with open_node(tmp_path, max_buffer=1_000) as node:
        await execution(node, 1)
        with read_only_directory(tmp_path):
            published = [0]
            await publish_ticks(node, 5_000, published)
            event_id = await execution(node, 2)
            await node.bus.flush()
    assert count(tmp_path / _MAIN, "unified_ticks") == 5_000
    assert count(tmp_path / _MAIN, "trade_executions", "event_id = ?", event_id) == 1


async def test_read_only_data_dir_refuses_a_new_writer_loudly(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        await execution(node, 1)
    # The clean shutdown removed the WAL, which a new writer must create again.
    with (
        read_only_directory(tmp_path),
        anyio.fail_after(10),
        pytest.raises(WriterError, match=str(tmp_path)),
    ):
        async with open_node(tmp_path):
            pass
    assert count(tmp_path / _MAIN, "trade_executions") == 1


# ------------------------------------------------------------ vanished directory


def _delete_tree(path: Path) -> None:
    """Delete ``path`` while the node writes in it (its status file's temporary files
    come and go meanwhile: one deleted under rmtree's feet is not an error)."""
    while path.exists():
        shutil.rmtree(path, ignore_errors=True)


async def ingest_until_gone(data: Path, vanish: Path | None) -> list[str]:
    """Log executions from several tasks, then make ``data`` vanish (rename or delete).

    The node must stop with a WriterError. Return the executions whose
    ``log_trade_execution`` returned (acknowledged).
    """
    acknowledged: list[str] = []
    tickets = itertools.count(1)

    async def log_executions(node: Node) -> None:
        while True:
            acknowledged.append(await execution(node, next(tickets)))

    async def ingest() -> None:
        async with open_node(data, max_buffer=1_000) as node, anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(log_executions, node)
            tg.start_soon(publish_ticks, node, 1_000_000, [0])
            await wait_until(lambda: len(acknowledged) >= 50)
            if vanish is None:
                await anyio.to_thread.run_sync(_delete_tree, data)
            else:
                await anyio.Path(data).rename(vanish)
            await anyio.sleep(30)  # the node must tear itself down before this ends

    with anyio.fail_after(30), pytest.raises(WriterError, match="vanished"):
        await ingest()
    return acknowledged


async def test_deleted_data_dir_stops_the_node_with_a_writer_error(tmp_path: Path) -> None:
    await ingest_until_gone(tmp_path / "data", None)


async def test_moved_data_dir_stops_the_node_and_keeps_what_was_acknowledged(
    tmp_path: Path,
) -> None:
    moved = tmp_path / "moved"
    acknowledged = await ingest_until_gone(tmp_path / "data", moved)
    with read_only(moved / _MAIN) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM trade_executions")}
    assert set(acknowledged) <= stored, "an execution was acknowledged but never committed"


# ------------------------------------------------------- checkpoint starvation


async def test_long_reader_lets_ingest_continue_and_the_wal_recovers(tmp_path: Path) -> None:
    wal = tmp_path / f"{_MAIN}-wal"
    source = "s" * 200  # wide rows: the WAL grows quickly
    published = [0]
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as node:
        await publish_ticks(node, 1_000, published, source)
        await node.bus.flush()
        with read_only(tmp_path / _MAIN) as reader:
            reader.execute("BEGIN")
            (seen,) = reader.execute("SELECT count(*) FROM unified_ticks").fetchone()
            for _ in range(4):
                with anyio.fail_after(30):  # ingest goes on while the reader holds its snapshot
                    await publish_ticks(node, 10_000, published, source)
                    await node.bus.flush()
            starved = wal.stat().st_size
            # SQLite checkpoints every 1000 pages; the reader keeps it from resetting the WAL.
            assert starved > 2 * 1000 * _PAGE
            (still,) = reader.execute("SELECT count(*) FROM unified_ticks").fetchone()
            assert still == seen
            reader.execute("COMMIT")
        sizes = []
        for _ in range(8):
            await publish_ticks(node, 10_000, published, source)
            await node.bus.flush()
            sizes.append(wal.stat().st_size)
        # Checkpoints caught up, and the WAL is reused from its start: it stopped growing.
        assert sizes[-1] == sizes[3] <= starved + 1000 * _PAGE
    assert count(tmp_path / _MAIN, "unified_ticks") == published[0] == 121_000


# ------------------------------------------------------------ foreign locker


@pytest.mark.parametrize("mode", ["immediate", "exclusive"])
async def test_foreign_lock_is_waited_out_and_loses_nothing(tmp_path: Path, mode: str) -> None:
    async with open_node(
        tmp_path, max_buffer=1_000, max_batch=500, busy_timeout=0.1, max_backoff=0.1
    ) as node:
        await execution(node, 1)
        locker = await anyio.open_process(
            [*script("foreign_locker.py"), str(tmp_path / _MAIN), mode, "1.5"],
            stdout=subprocess.PIPE,
        )
        async with locker:
            assert locker.stdout is not None
            with anyio.fail_after(30):
                line = await BufferedByteReceiveStream(locker.stdout).receive_until(b"\n", 64)
            assert line == b"locked"
            published = [0]
            event_ids: list[str] = []

            async def log_execution() -> None:
                event_ids.append(await execution(node, 2))

            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_ticks, node, 10_000, published)
                tg.start_soon(log_execution)
                await stalled(node, published, 1_000 + 500)
                assert event_ids == [], "acknowledged while a foreign process held the lock"
                last_error = node.writer("main").statistics().last_error
                assert last_error is not None
                assert "locked" in last_error
            assert await locker.wait() == 0
        await node.bus.flush()
    assert count(tmp_path / _MAIN, "unified_ticks") == 10_000
    assert count(tmp_path / _MAIN, "trade_executions") == 2
    assert integrity(tmp_path / _MAIN) == "ok"


async def test_database_locked_by_a_foreign_process_at_start_fails_loudly(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        await execution(node, 1)
    locker = await anyio.open_process(
        [*script("foreign_locker.py"), str(tmp_path / _MAIN), "exclusive-mode", "30"],
        stdout=subprocess.PIPE,
    )
    async with locker:
        assert locker.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(locker.stdout).receive_until(b"\n", 64)
        assert line == b"locked"
        try:
            with anyio.fail_after(10), pytest.raises(WriterError, match=_MAIN) as refused:
                async with open_node(tmp_path, busy_timeout=0.2):
                    pass
            assert "locked" in str(refused.value)
        finally:
            locker.kill()
    async with open_node(tmp_path) as node:  # once the foreign process is gone
        await execution(node, 2)
    assert count(tmp_path / _MAIN, "trade_executions") == 2
