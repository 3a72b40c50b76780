"""Schema migrations: numbered, recorded in ``PRAGMA user_version``, never downgraded."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from writers import MAIN, SPECS, DatabaseSpec, SchemaVersionError, WriterError, WriterLock

from ._helpers import count, execution, query, running_writer


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
async def test_a_new_database_gets_every_table_and_the_latest_version(
    tmp_path: Path, spec: DatabaseSpec
) -> None:
    path = tmp_path / spec.filename
    async with running_writer(path, spec):
        pass
    assert query(path, "PRAGMA user_version") == [(len(spec.migrations),)]
    tables = {
        name for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert set(spec.tables) <= tables


async def test_the_main_database_has_the_m5_candles_view(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN):
        pass
    assert query(path, "SELECT name FROM sqlite_master WHERE type = 'view'") == [("m5_candles",)]


async def test_an_older_file_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(MAIN.migrations[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO trade_executions (ticket, symbol, direction, entry_price, volume, ts, "
            "event_id) VALUES (1, 'BTCUSDT', 'BUY', 50000.0, 0.01, 100, 'old-event')"
        )
        conn.commit()
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(2))
        await bus.flush()
    assert query(path, "PRAGMA user_version") == [(len(MAIN.migrations),)]
    assert query(path, "SELECT ticket, event_id FROM trade_executions WHERE ticket = 1") == [
        (1, "old-event")
    ]
    assert count(path, "trade_executions") == 2
    indexes = {
        name for (name,) in query(path, "SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert "trade_positions_status" in indexes  # created by migration 2


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
async def test_a_file_from_a_newer_version_is_refused(tmp_path: Path, spec: DatabaseSpec) -> None:
    path = tmp_path / spec.filename
    newer = len(spec.migrations) + 1
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(SchemaVersionError, match=f"schema version {newer}"):
        async with running_writer(path, spec):
            pytest.fail("the writer started")
    assert query(path, "PRAGMA user_version") == [(newer,)]
    assert query(path, "SELECT name FROM sqlite_master") == []  # left untouched
    lock = WriterLock(path)
    lock.acquire()  # and its lock released
    lock.release()


async def test_a_file_that_is_not_a_database_is_refused_with_writer_error(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    path.write_bytes(b"this is not an SQLite database, but a user's notes" * 100)
    with pytest.raises(WriterError, match=f"cannot open {path}"):
        async with running_writer(path, MAIN):
            pytest.fail("the writer started")
    assert path.read_bytes().startswith(b"this is not an SQLite database")


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(MAIN.migrations[0])
        # Something a user added that migration 2 collides with.
        conn.execute("CREATE INDEX trade_positions_status ON trade_positions (symbol)")
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(WriterError, match="schema version 2") as refused:
        async with running_writer(path, MAIN):
            pytest.fail("the writer started")
    assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
    assert query(path, "PRAGMA user_version") == [(1,)]
    # Migration 2 is one transaction: the indexes it made before failing are gone.
    assert (
        query(path, "SELECT name FROM sqlite_master WHERE name = 'trade_executions_ticket'") == []
    )
