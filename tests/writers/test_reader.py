"""Readers: they see what the writer committed and can never write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from writers import MAIN, WriterError, open_reader, queries

from ._helpers import execution, read_only_directory, running_writer, tick


async def test_a_reader_sees_what_the_running_writer_committed(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _), open_reader(path) as reader:
        bus.publish_nowait(tick(1))
        bus.publish_nowait(execution(1))
        await bus.flush()
        assert await queries.recent_ticks(reader, "BTCUSDT") == [tick(1)]
        bus.publish_nowait(tick(2))
        await bus.flush()
        assert await queries.recent_ticks(reader, "BTCUSDT") == [tick(2), tick(1)]
        [position] = await queries.open_positions(reader)
        assert (position.ticket, position.status) == (1, "open")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO unified_ticks (symbol, ts, seq, bid, ask) VALUES ('X', 1, 1, 1.0, 1.0)",
        "INSERT INTO dead_letters (topic, data, error, ts) VALUES ('t', x'00', 'e', 1)",
        "DELETE FROM trade_positions",
        "CREATE TABLE intruder (x)",
    ],
)
async def test_a_reader_cannot_write(tmp_path: Path, statement: str) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _), open_reader(path) as reader:
        bus.publish_nowait(execution(1))
        await bus.flush()
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            await reader.execute(statement)
        # Even with query_only switched off, the connection itself is read-only.
        await reader.execute("PRAGMA query_only=OFF")
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            await reader.execute(statement)
        async with reader.execute("SELECT count(*) FROM trade_positions") as cursor:
            assert await cursor.fetchone() == (1,)


async def test_a_reader_works_in_a_directory_it_cannot_write(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(tick(1))
        await bus.flush()
        # The writer has created the -wal and -shm files; now nobody may add files.
        with read_only_directory(directory):
            with pytest.raises(PermissionError):
                (directory / "probe").touch()
            async with open_reader(path) as reader:
                assert await queries.recent_ticks(reader, "BTCUSDT") == [tick(1)]
                bus.publish_nowait(tick(2))
                await bus.flush()
                assert await queries.recent_ticks(reader, "BTCUSDT") == [tick(2), tick(1)]


async def test_opening_a_missing_database_for_reading_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    with pytest.raises(WriterError, match="does not exist"):
        async with open_reader(path):
            pass  # pragma: no cover
    assert not path.exists()  # and it was not created
