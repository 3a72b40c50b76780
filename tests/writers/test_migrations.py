"""Schema migrations: numbered, recorded in ``PRAGMA user_version``, never downgraded."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import RecommendationUpdate, TradeAlert, TradeExecution, new_event_id
from writers import (
    ANALYSIS,
    LOGS,
    MAIN,
    SPECS,
    DatabaseSpec,
    SchemaVersionError,
    WriterError,
    WriterLock,
)

from ._helpers import count, execution, position_update, query, recommendation, running_writer

#: The migration scripts as shipped with schema version 5, word for word: what made the
#: files users have.
FROZEN = Path(__file__).with_name("frozen_schema")


def _shipped(spec: DatabaseSpec, version: int) -> str:
    """Migration ``version`` of ``spec``'s database as it shipped."""
    return (FROZEN / f"{spec.name}_{version}.sql").read_text()


def _made_by_shipped_scripts(path: Path, spec: DatabaseSpec, upto: int) -> None:
    """A file made by the shipped migrations 1..``upto``, run as a writer runs them."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for version in range(1, upto + 1):
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{_shipped(spec, version)}\n"
                f"PRAGMA user_version = {version};\nCOMMIT;"
            )


def _sql(text: str | None) -> str | None:
    """SQL text with its layout (whitespace) normalized: the same words, the same schema."""
    if text is None:
        return None
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s*([(),])\s*", r"\1", text).strip()


def _schema(path: Path) -> dict[str, object]:
    """Everything SQLite says of a file's schema: each object and its SQL, each table's
    columns, keys, indexes and their columns, and the version."""
    with closing(sqlite3.connect(path)) as conn:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        schema: dict[str, object] = {
            "version": conn.execute("PRAGMA user_version").fetchall(),
            "objects": [(kind, name, table, _sql(sql)) for kind, name, table, sql in objects],
        }
        for kind, name, _, _ in objects:
            if kind == "table":
                schema[f"columns {name}"] = conn.execute(f"PRAGMA table_xinfo({name})").fetchall()
                schema[f"foreign keys {name}"] = conn.execute(
                    f"PRAGMA foreign_key_list({name})"
                ).fetchall()
                indexes = conn.execute(f"PRAGMA index_list({name})").fetchall()
                schema[f"indexes {name}"] = indexes
                for index in indexes:
                    schema[f"index {index[1]}"] = conn.execute(
                        f"PRAGMA index_xinfo({index[1]})"
                    ).fetchall()
    return schema


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
async def test_a_new_database_gets_exactly_the_schema_the_shipped_scripts_made(
    tmp_path: Path, spec: DatabaseSpec
) -> None:
    shipped = tmp_path / "shipped.db"
    _made_by_shipped_scripts(shipped, spec, len(spec.migrations))
    path = tmp_path / spec.filename
    async with running_writer(path, spec):
        pass
    assert _schema(path) == _schema(shipped)
    assert len(spec.migrations) == 5


@pytest.mark.parametrize("upto", [1, 2, 3, 4])
@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
async def test_a_file_made_by_an_older_version_is_migrated_to_the_same_schema(
    tmp_path: Path, spec: DatabaseSpec, upto: int
) -> None:
    shipped = tmp_path / "shipped.db"
    _made_by_shipped_scripts(shipped, spec, len(spec.migrations))
    path = tmp_path / spec.filename
    _made_by_shipped_scripts(path, spec, upto)
    async with running_writer(path, spec):
        pass
    assert _schema(path) == _schema(shipped)


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
    _made_by_shipped_scripts(path, MAIN, 1)
    with closing(sqlite3.connect(path)) as conn:
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
    _made_by_shipped_scripts(path, MAIN, 1)
    with closing(sqlite3.connect(path)) as conn:
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


def _at_version_2(path: Path, spec: DatabaseSpec, rows: str) -> None:
    """A database made by migrations 1 and 2 only, holding ``rows`` (SQL)."""
    _made_by_shipped_scripts(path, spec, 2)
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(rows)


async def test_a_main_database_with_rows_gets_the_integrity_rules_of_version_3(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    opened_id, modified_id, closed_id = new_event_id(), new_event_id(), new_event_id()
    # Positions stored by version 2: one opened, then modified (state ordered by ts);
    # one closed.
    _at_version_2(path, MAIN, f"""
        INSERT INTO trade_executions (ticket, symbol, direction, entry_price, volume, stop_loss,
            take_profit, recommendation_id, comment, ts, event_id)
        VALUES (7, 'BTCUSDT', 'BUY', 50000.0, 0.01, 49500.0, 51000.0, NULL, '', 100,
                '{opened_id}');
        INSERT INTO position_updates (ticket, symbol, status, current_price, volume, stop_loss,
            take_profit, unrealized_pnl, close_price, realized_pnl, ts, event_id)
        VALUES (7, 'BTCUSDT', 'modified', 50100.0, NULL, NULL, NULL, 1.0, NULL, NULL, 200,
                '{modified_id}');
        INSERT INTO trade_positions (ticket, symbol, direction, status, entry_price, volume,
            stop_loss, take_profit, current_price, unrealized_pnl, opened_ts, ts, event_id)
        VALUES (7, 'BTCUSDT', 'BUY', 'modified', 50000.0, 0.01, 49500.0, 51000.0, 50100.0, 1.0,
                100, 200, '{modified_id}');
        INSERT INTO position_updates (ticket, symbol, status, current_price, close_price,
            realized_pnl, ts, event_id)
        VALUES (8, 'BTCUSDT', 'closed', 50100.0, 50100.0, 1.0, 200, '{closed_id}');
        INSERT INTO trade_positions (ticket, symbol, status, current_price, close_price,
            realized_pnl, closed_ts, ts, event_id)
        VALUES (8, 'BTCUSDT', 'closed', 50100.0, 50100.0, 1.0, 200, 200, '{closed_id}');
    """)  # fmt: skip
    modified = position_update(7, ts=200, current_price=50_100.0, unrealized_pnl=1.0,
                               event_id=modified_id)  # fmt: skip
    phantom = msgspec.structs.replace(modified, volume=1_000.0, unrealized_pnl=-1e9)
    reused = TradeExecution(ticket=7, symbol="BTCUSDT", direction="SELL", entry_price=60_000.0,
                            volume=0.5, ts=300)  # fmt: skip
    # The stored trade under a new event_id: another execution all the same.
    repeated = TradeExecution(ticket=7, symbol="BTCUSDT", direction="BUY", entry_price=50_000.0,
                              volume=0.01, stop_loss=49_500.0, take_profit=51_000.0,
                              ts=100)  # fmt: skip
    close = position_update(7, ts=150, status="closed", current_price=50_200.0,
                            close_price=50_200.0, realized_pnl=2.0)  # an earlier clock  # fmt: skip
    second_close = msgspec.structs.replace(close, event_id=new_event_id())
    old_close = position_update(8, ts=300, status="closed", current_price=50_900.0,
                                close_price=50_900.0, realized_pnl=9.0)  # fmt: skip
    refusals = (phantom, reused, repeated, second_close, old_close)
    refused: list[tuple[int, NotStored]] = []  # (seq, the flush's error) of each refusal
    async with running_writer(path, MAIN) as (bus, _):
        for event in (modified, phantom, reused, repeated, close, second_close, old_close):
            seq = bus.publish_nowait(event)
            if any(event is refusal for refusal in refusals):
                with pytest.raises(NotStored, match=type(event).__name__) as failure:
                    await bus.flush()
                refused.append((seq, failure.value))
            else:
                await bus.flush()
        bus.publish_nowait(position_update(7, ts=400, current_price=50_300.0))
        await bus.flush()
    assert query(path, "PRAGMA user_version") == [(len(MAIN.migrations),)]
    assert query(
        path, "SELECT ticket, direction, status, volume, close_price, realized_pnl, event_id "
        "FROM trade_positions ORDER BY ticket"
    ) == [
        (7, "BUY", "closed", 0.01, 50_200.0, 2.0, close.event_id),
        (8, None, "closed", None, 50_100.0, 1.0, closed_id),
    ]  # fmt: skip
    assert query(path, "SELECT event_id FROM trade_executions") == [(opened_id,)]
    letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert [data for data, _ in letters] == [schemas.encode(event) for event in refusals]
    errors = [error for _, error in letters]
    assert "event_id was stored before with another volume" in errors[0]
    for error in errors[1:3]:
        assert "ticket was opened before by another execution (another event_id)" in error
    for error in errors[3:]:
        assert "ticket was closed before by another close (another event_id)" in error
    for (refused_seq, error_raised), error in zip(refused, errors, strict=True):
        assert (error_raised.seq, error_raised.more) == (refused_seq, 0)
        assert error_raised.reason == f"went to dead_letters: {error}"


async def test_an_analysis_database_with_rows_gets_the_integrity_rules_of_version_3(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    _at_version_2(path, ANALYSIS, """
        INSERT INTO trade_recommendations (recommendation_id, symbol, direction, entry_price,
            stop_loss, take_profit, confidence, reasoning, timeframe, source, status, ticket,
            ts, updated_ts, updated_event_id, event_id)
        VALUES ('rec-1', 'BTCUSDT', 'BUY', 50000.0, 49500.0, 51000.0, 85.0,
                'Strong bullish momentum', '', '', 'executed', 7, 100, 200, 'update-1',
                'rec-event');
        INSERT INTO recommendation_updates (recommendation_id, status, ticket, ts, event_id)
        VALUES ('rec-1', 'executed', 7, 200, 'update-1');
    """)  # fmt: skip
    repeat = recommendation("rec-1")  # the stored content, under a new event_id
    other = msgspec.structs.replace(recommendation("rec-1"), confidence=10.0)
    closed = RecommendationUpdate(recommendation_id="rec-1", status="closed", outcome="win",
                                  realized_pnl=2.0, ts=50)  # fmt: skip
    closed_again = RecommendationUpdate(recommendation_id="rec-1", status="closed",
                                        outcome="loss", realized_pnl=-1.0, ts=60)  # fmt: skip
    async with running_writer(path, ANALYSIS) as (bus, _):
        seq = bus.publish_nowait(repeat)
        bus.publish_nowait(other)
        with pytest.raises(NotStored, match="recommendation_id was stored before") as refused:
            await bus.flush()
        # Closed with an earlier clock, then a later update: closed is final.
        bus.publish_nowait(closed)
        bus.publish_nowait(
            RecommendationUpdate(recommendation_id="rec-1", status="executed", ticket=8, ts=500)
        )
        await bus.flush()
        bus.publish_nowait(closed_again)
        with pytest.raises(NotStored, match="closed before by another update"):
            await bus.flush()
    assert query(
        path, "SELECT status, ticket, outcome, realized_pnl, event_id FROM trade_recommendations"
    ) == [("closed", 7, "win", 2.0, "rec-event")]
    letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert [data for data, _ in letters] == [
        schemas.encode(event) for event in (repeat, other, closed_again)
    ]
    for _, error in letters[:2]:
        assert "recommendation_id was stored before by another event (another event_id)" in error
    assert (
        "recommendation was closed before by another update (another event_id)" in (letters[2][1])
    )
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeRecommendation",
        seq,
        1,
    )
    assert refused.value.reason == f"went to dead_letters: {letters[0][1]}"


async def test_a_logs_database_with_rows_refuses_a_replay_with_other_content(
    tmp_path: Path,
) -> None:
    path = tmp_path / LOGS.filename
    alert = TradeAlert(alert_type="risk", severity="critical", message="drawdown 5%", ts=100)
    _at_version_2(path, LOGS, f"""
        INSERT INTO trade_alerts (alert_type, severity, message, symbol, ticket, ts, event_id)
        VALUES ('risk', 'critical', 'drawdown 5%', NULL, NULL, 100, '{alert.event_id}');
    """)  # fmt: skip
    forged = msgspec.structs.replace(alert, severity="info")
    async with running_writer(path, LOGS) as (bus, _):
        bus.publish_nowait(alert)
        seq = bus.publish_nowait(forged)
        with pytest.raises(NotStored, match="stored before with another severity") as refused:
            await bus.flush()
    assert query(path, "SELECT severity, event_id FROM trade_alerts") == [
        ("critical", alert.event_id)
    ]
    [(error,)] = query(path, "SELECT error FROM dead_letters")
    assert "trade_alerts: an event with this event_id was stored before with another severity" in (
        error
    )
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeAlert",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"
