"""Point reads on the event loop's thread, and their way around a busy file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tradebus import open_node
from tradebus._quick_reader import OwnReader, QuickReader
from writers import open_reader


def _database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'one')")
    conn.close()


async def test_a_point_read_sees_what_was_committed_since_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _database(path)
    async with open_reader(path) as shared:
        quick = QuickReader(path, shared)
        try:
            assert list(await quick.execute_fetchall("SELECT v FROM t WHERE k = ?", (2,))) == []
            with sqlite3.connect(path) as writer:
                writer.execute("INSERT INTO t VALUES (2, 'two')")
            writer.close()
            rows = await quick.execute_fetchall("SELECT v FROM t WHERE k = ?", (2,))
            assert [tuple(r) for r in rows] == [("two",)]
            assert (quick.quick_reads, quick.fallbacks) == (2, 0)
        finally:
            quick.close()


async def test_a_busy_file_sends_the_read_to_the_waiting_connection(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _database(path)
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # readers of a WAL file in exclusive mode get BUSY
    holder.execute("INSERT INTO t VALUES (3, 'three')")

    def finish() -> None:
        holder.commit()
        holder.close()

    release = threading.Timer(0.3, finish)
    async with open_reader(path, busy_timeout=20.0) as shared:
        quick = QuickReader(path, shared)
        try:
            release.start()
            rows = await quick.execute_fetchall("SELECT v FROM t WHERE k = ?", (3,))
            assert [tuple(r) for r in rows] == [("three",)]  # it waited, in its thread
            assert quick.fallbacks == 1
        finally:
            release.join()
            quick.close()


async def test_a_point_reader_refuses_writes_and_reports_bad_sql(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _database(path)
    async with open_reader(path) as shared:
        quick = QuickReader(path, shared)
        try:
            with pytest.raises(sqlite3.OperationalError, match="read-only"):
                await quick.execute_fetchall("DELETE FROM t")
            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                await quick.execute_fetchall("SELECT * FROM missing")
            assert quick.fallbacks == 0
        finally:
            quick.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


async def test_the_calls_check_references_through_the_writer_or_the_point_reader(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as node:
        api = node.integration("chatgpt_bot")
        first = await api.log_trade_execution(
            ticket=7, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=0.1
        )
        # A repeat finds the committed execution (read on the loop's thread, through
        # the writer's connection while it is idle, else the point reader) and stores
        # nothing new.
        again = await api.log_trade_execution(
            ticket=7, symbol="EURUSD", direction="BUY", entry_price=1.1, volume=0.1
        )
        assert again == first
        reader = await node.reference_reader("main")
        assert isinstance(reader, OwnReader)
        quick = await node.point_reader("main")
        assert isinstance(quick, QuickReader)
        assert reader.own_reads + quick.quick_reads >= 2
    async with open_reader(tmp_path / "unified_tick_pipeline.db") as conn:
        rows = await conn.execute_fetchall("SELECT count(*) FROM trade_executions")
    assert [tuple(r) for r in rows] == [(1,)]


async def test_a_node_checks_a_database_it_does_not_write_through_the_point_reader(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        pass  # the main database exists
    async with open_node(tmp_path, roles=["desktop_agent"]) as node:
        assert isinstance(await node.reference_reader("main"), QuickReader)


class _Writer:
    """Stands for a writer: reads now (rows) or not (None)."""

    def __init__(self, rows: list[Any] | None) -> None:
        self.rows = rows
        self.asked: list[tuple[str, tuple[Any, ...]]] = []

    def read_now(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any] | None:
        self.asked.append((sql, tuple(parameters)))
        return self.rows


async def test_a_reader_of_its_own_writer_falls_back_when_the_writer_is_busy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    _database(path)
    async with open_reader(path) as shared:
        quick = QuickReader(path, shared)
        try:
            idle = OwnReader(_Writer([("own",)]), quick)
            assert list(await idle.execute_fetchall("SELECT v FROM t WHERE k = ?", (1,))) == [
                ("own",)
            ]
            assert (idle.own_reads, quick.quick_reads) == (1, 0)
            busy_writer = _Writer(None)
            busy = OwnReader(busy_writer, quick)
            rows = await busy.execute_fetchall("SELECT v FROM t WHERE k = ?", (1,))
            assert [tuple(r) for r in rows] == [("one",)]
            assert busy_writer.asked == [("SELECT v FROM t WHERE k = ?", (1,))]
            assert (busy.own_reads, quick.quick_reads) == (0, 1)
        finally:
            quick.close()
