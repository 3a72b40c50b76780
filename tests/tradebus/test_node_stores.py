"""A node keeping databases in PostgreSQL (``open_node(..., stores=...)``): its
writers store there, relays from other processes' outboxes commit there with their
cursors, exactly once across restarts; what reads SQLite files refuses clearly."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from schemas import Tick
from tests.writers._helpers import wait_until
from tests.writers._pg import NewDatabase, pg_database, pg_rows
from tradebus import TradebusError, open_node
from writers import Retention

__all__ = ["pg_database"]  # the fixture


def _ticks(n: int, first: int = 0) -> list[Tick]:
    return [
        Tick(symbol="EURUSD", bid=1.0 + i / 1e4, ask=1.1, ts=10**18 + i)
        for i in range(first, first + n)
    ]


async def test_relays_deliver_into_postgresql_exactly_once(
    tmp_path: Path, pg_database: NewDatabase
) -> None:
    main = await pg_database()
    bot = {"roles": ["chatgpt_bot"], "stores": {"main": main}, "candles": None, "monitor": None}
    # A process hosting no role appends to its outbox (main's owner is not running).
    async with open_node(tmp_path, roles=(), stores={"main": main}) as script:
        for tick in _ticks(300):
            await script.bus.publish(tick)
        alert_id = await script.integration("api_server").log_trade_alert(
            alert_type="risk", severity="warning", message="for the logs file"
        )
        await script.bus.flush()
    async with open_node(tmp_path, **bot) as owner:  # type: ignore[arg-type]
        async with open_node(tmp_path, roles=(), stores={"main": main}) as script:
            await script.delivered(timeout=30)  # it reads main's cursor in PostgreSQL
            for tick in _ticks(200, 300):
                await script.bus.publish(tick)
            await script.delivered(timeout=30)
        assert not (tmp_path / "unified_tick_pipeline.db").exists()
        for source, cursor in await pg_rows(main, "SELECT source, cursor FROM relay_cursors"):
            assert await owner.cursor_of("main", source) == cursor > 0
        assert await owner.cursor_of("main", "elsewhere#1") == 0
        with pytest.raises(TradebusError, match="'main' database is kept in PostgreSQL"):
            await owner.shared_reader("main")
    async with open_node(tmp_path, **bot):  # type: ignore[arg-type]
        pass  # the relay resumes after its committed cursor: nothing again
    assert await pg_rows(main, "SELECT count(*), count(DISTINCT bid) FROM unified_ticks") == [
        (500, 500)
    ]
    cursors = await pg_rows(main, "SELECT source, events FROM relay_cursors ORDER BY source")
    # The owner hosts only a database kept in PostgreSQL: its own outbox (for the
    # others) is a client file, so the second script wrote client-2.db.
    assert [(source.split("#")[0], events) for source, events in cursors] == [
        ("outboxes/client-1.db", 300), ("outboxes/client-2.db", 200)
    ]  # fmt: skip
    async with open_node(tmp_path, roles=["api_server"]) as logs:  # its relay delivers

        async def alerts() -> bool:
            async with logs.reader("logs") as conn:
                rows = await conn.execute_fetchall("SELECT event_id FROM trade_alerts")
            return list(rows) == [(alert_id,)]

        with anyio.fail_after(30):
            await wait_until(alerts)


async def test_a_cancelled_node_commits_every_tick_it_took_into_postgresql(
    tmp_path: Path, pg_database: NewDatabase
) -> None:
    main = await pg_database()
    published = 0
    with anyio.CancelScope() as scope:
        async with open_node(
            tmp_path, roles=["chatgpt_bot"], stores={"main": main}, candles=None, monitor=None
        ) as node:

            async def produce() -> None:
                nonlocal published
                for tick in itertools.cycle(_ticks(1_000)):
                    await node.bus.publish(tick)
                    published += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                await wait_until(lambda: published >= 20_000)
                scope.cancel()
    assert scope.cancelled_caught
    assert await pg_rows(main, "SELECT count(*) FROM unified_ticks") == [(published,)]


async def test_bad_stores_are_refused_naming_what_is_allowed(
    tmp_path: Path, pg_database: NewDatabase
) -> None:
    with pytest.raises(TradebusError, match="stores names 'ticks', which is no database"):
        open_node(tmp_path, stores={"ticks": "postgresql://h/x"})
    with pytest.raises(TradebusError, match=r"stores\['main'\] must be a PostgreSQL URL"):
        open_node(tmp_path, stores={"main": "/var/lib/main.db"})
    with pytest.raises(TradebusError, match="candles and monitor services read it"):
        open_node(tmp_path, roles=["chatgpt_bot"], stores={"main": "postgresql://h/x"})
    with pytest.raises(TradebusError, match="retention prunes SQLite files"):
        open_node(tmp_path, stores={"logs": "postgresql://h/x"}, retention=Retention(logs=3.0))


def test_the_cli_takes_stores_and_refuses_bad_ones(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tradebus", "run", "--data-dir", str(tmp_path),
         "--role", "api_server", "--store", "logs"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--store must be DATABASE=URL" in done.stderr
