"""Readers: they see what the writer committed and can never write."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from writers import MAIN, WriterError, open_reader, queries

from ._helpers import count, execution, query, read_only_directory, running_writer, tick


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


#: Every way we know for SQL to write through a connection, each a list of statements
#: run in turn (the attack succeeds if the last one does). ``{db}`` is the database's
#: path, ``{dir}`` its directory.
WRITE_ATTEMPTS: dict[str, list[str]] = {
    "insert": ["INSERT INTO unified_ticks (symbol, ts, seq, bid, ask) VALUES ('X', 1, 1, 1, 1)"],
    "insert-via-cte": [
        "WITH x AS (SELECT 1) INSERT INTO dead_letters (topic, data, error, ts) "
        "SELECT 't', x'00', 'e', 1 FROM x"
    ],
    "delete": ["DELETE FROM trade_positions"],
    "update": ["UPDATE trade_executions SET volume = 0"],
    "create-table": ["CREATE TABLE intruder (x)"],
    "drop-view": ["DROP VIEW m5_candles"],
    "alter-table": ["ALTER TABLE trade_positions ADD COLUMN intruder"],
    "create-index": ["CREATE INDEX intruder ON trade_executions (volume)"],
    "virtual-table": ["CREATE VIRTUAL TABLE intruder USING fts5(x)"],
    "query-only-off": [
        "PRAGMA query_only=OFF",
        "DELETE FROM trade_positions",
    ],
    "attach-rw-uri": [
        "ATTACH 'file:{db}?mode=rw' AS x",
        "DELETE FROM x.trade_positions",
    ],
    "query-only-off-attach-rw": [
        "PRAGMA query_only=OFF",
        "ATTACH 'file:{db}?mode=rw' AS x",
        "DELETE FROM x.trade_positions",
    ],
    "query-only-off-attach-plain": [
        "PRAGMA query_only=OFF",
        "ATTACH '{db}' AS x",
        "DELETE FROM x.trade_positions",
    ],
    "attach-plain-path": ["ATTACH '{db}' AS x", "DELETE FROM x.trade_positions"],
    "attach-new-file": ["ATTACH '{dir}/intruder.db' AS x", "CREATE TABLE x.t (a)"],
    "vacuum-into": ["VACUUM INTO '{dir}/copy.db'"],
    "vacuum": ["VACUUM"],
    "update-schema": ["UPDATE sqlite_master SET sql = NULL WHERE name = 'trade_positions'"],
    "writable-schema": [
        "PRAGMA writable_schema=ON",
        "DELETE FROM sqlite_master WHERE name = 'trade_positions'",
    ],
    "journal-mode": ["PRAGMA journal_mode=DELETE"],
    "journal-mode-off": ["PRAGMA main.journal_mode=OFF"],
    "locking-mode": ["PRAGMA locking_mode=EXCLUSIVE"],
    "checkpoint": ["PRAGMA wal_checkpoint(TRUNCATE)"],
    "user-version": ["PRAGMA user_version=99"],
    "schema-version": ["PRAGMA schema_version=1"],
    "incremental-vacuum": ["PRAGMA incremental_vacuum"],
    "optimize": ["PRAGMA optimize"],
    "analyze": ["ANALYZE"],
    "reindex": ["REINDEX"],
    "temp-table": ["CREATE TEMP TABLE t (x)"],
    "temp-trigger": [
        "CREATE TEMP TRIGGER intruder AFTER INSERT ON dead_letters "
        "BEGIN DELETE FROM trade_positions; END"
    ],
    "load-extension": ["SELECT load_extension('/nonexistent/intruder')"],
    # Hands out a C pointer (and with two arguments, takes one): no business of a reader.
    "fts3-tokenizer": ["SELECT fts3_tokenizer('simple')"],
    "begin-exclusive": ["BEGIN EXCLUSIVE", "DELETE FROM trade_positions"],
}


@pytest.mark.parametrize("attempt", list(WRITE_ATTEMPTS), ids=str)
async def test_no_sql_writes_through_a_reader(tmp_path: Path, attempt: str) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _), open_reader(path) as reader:
        bus.publish_nowait(execution(1))
        await bus.flush()
        before = _state(path)
        statements = [sql.format(db=path, dir=tmp_path) for sql in WRITE_ATTEMPTS[attempt]]
        for sql in statements[:-1]:
            with contextlib.suppress(sqlite3.OperationalError):
                await reader.execute(sql)  # each step is refused too, in fact
        with pytest.raises(sqlite3.OperationalError):
            await reader.execute(statements[-1])
        if reader.in_transaction:
            await reader.rollback()
        async with reader.execute("SELECT count(*) FROM trade_positions") as cursor:
            assert await cursor.fetchone() == (1,)
        bus.publish_nowait(execution(2))  # the writer is undisturbed
        await bus.flush()
    schema, settings, rows = _state(path)
    assert (schema, settings) == before[:2]
    assert rows == (before[2][0] + 1, before[2][1] + 1)  # only the writer's execution
    assert not (tmp_path / "intruder.db").exists()
    assert not (tmp_path / "copy.db").exists()


def _state(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], tuple[int, int]]:
    """Schema, settings, executions and positions of ``path``, read with plain sqlite3."""
    return (
        query(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name"),
        query(path, "PRAGMA user_version") + query(path, "PRAGMA journal_mode"),
        (count(path, "trade_executions"), count(path, "trade_positions")),
    )


async def test_a_reader_cannot_lift_its_own_restrictions(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN), open_reader(path) as reader:
        with pytest.raises(sqlite3.OperationalError, match="read-only"):
            await reader.set_authorizer(None)
        with pytest.raises(sqlite3.OperationalError, match="read-only"):
            await reader.enable_load_extension(True)
        with pytest.raises(sqlite3.DatabaseError):
            await reader.execute(f"ATTACH 'file:{path}?mode=rw' AS x")
        async with aiosqlite.connect(":memory:") as other:
            await other.execute("CREATE TABLE intruder (x)")
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await other.backup(reader)  # a backup *into* the reader's database
    assert query(path, "SELECT name FROM sqlite_master WHERE name = 'intruder'") == []


async def test_a_reader_still_reads_joins_and_holds_read_transactions(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _), open_reader(path) as reader:
        bus.publish_nowait(execution(1))
        bus.publish_nowait(tick(1))
        await bus.flush()
        await reader.execute("BEGIN")
        async with reader.execute(
            "SELECT e.ticket, p.status FROM trade_executions e "
            "JOIN trade_positions p ON p.ticket = e.ticket"
        ) as cursor:
            assert list(await cursor.fetchall()) == [(1, "open")]
        bus.publish_nowait(tick(2))
        await bus.flush()
        async with reader.execute("SELECT count(*) FROM unified_ticks") as cursor:
            assert await cursor.fetchone() == (1,)  # one snapshot for the transaction
        await reader.execute("COMMIT")
        async with reader.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
            "SELECT (SELECT count(*) FROM unified_ticks), count(*) FROM n"
        ) as cursor:
            assert await cursor.fetchone() == (2, 3)
        async with reader.execute("SELECT name FROM pragma_table_info('trade_positions')") as c:
            assert ("ticket",) in list(await c.fetchall())
        for pragma in ("PRAGMA user_version", "PRAGMA quick_check", "PRAGMA journal_mode"):
            async with reader.execute(pragma) as cursor:
                assert await cursor.fetchone() is not None
        assert await queries.recent_ticks(reader, "BTCUSDT") == [tick(2), tick(1)]


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
