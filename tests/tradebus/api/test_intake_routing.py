"""Events for the bot's database, posted to the API server: durable in its outbox when
answered, delivered once the bot's process runs, and checked against what it holds."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx

from schemas import new_event_id
from tradebus import open_node
from tradebus.api import ApiOptions, ApiServer

from ._rows import rows, wait_rows
from ._server import serve

EVENTS = "/api/v1/events"


@asynccontextmanager
async def bot(data_dir: Path) -> AsyncIterator[None]:
    """``tradebus run --role chatgpt_bot``: the owner of the bot's database (its relay
    takes in what other processes' outboxes hold for it)."""
    log = data_dir.parent / "bot.log"
    command = [sys.executable, "-m", "tradebus", "run", "--role", "chatgpt_bot"]
    options = ["--candles", "none", "--monitor", "off", "--data-dir", str(data_dir)]
    with log.open("wb") as out:
        process = await anyio.open_process([*command, *options], stdout=out, stderr=out)
    try:
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with anyio.fail_after(60):
            await process.wait()
    assert process.returncode == 0, log.read_text()


async def test_ticks_and_executions_wait_in_the_outbox_until_the_bot_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    main = data / "unified_tick_pipeline.db"
    execution_id = new_event_id()
    execution = {
        "type": "TradeExecution",
        "ticket": 4242,
        "symbol": "EURUSD",
        "direction": "BUY",
        "entry_price": 1.1,
        "volume": 0.5,
        "event_id": execution_id,
    }
    tick = {
        "type": "Tick",
        "symbol": "EURUSD",
        "bid": 1.1,
        "ask": 1.1002,
        "ts": 1_700_000_000_000_000_000,
    }
    update = {
        "type": "PositionUpdate",
        "ticket": 4242,
        "symbol": "EURUSD",
        "status": "modified",
        "current_price": 1.105,
        "unrealized_pnl": 25.0,
    }
    async with serve(data) as server, server.client() as client:
        response = await client.post(EVENTS, json=[tick, execution])
        assert response.status_code == 201, response.text
        assert response.json() == {"event_ids": [None, execution_id]}
        # Durable in the server's outbox, for the bot's database.
        queued = rows(data / "system_logs.db", "SELECT destination, topic FROM outbox ORDER BY seq")
        assert ("main", "market.tick.EURUSD") in queued
        assert ("main", "trade.execution.EURUSD") in queued
        assert rows(main, "SELECT 1 FROM trade_executions") == []

        # The execution is not committed where positions are kept: an update of its
        # position is refused until it is.
        refused = await client.post(EVENTS, json=update)
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == "ticket"
        assert refused.json()["value"] == 4242
        assert "no committed execution" in refused.json()["detail"]

        # A retry of the execution before delivery: answered the same, stored once.
        again = await client.post(EVENTS, json=execution)
        assert again.status_code == 201
        assert again.json() == {"event_ids": [execution_id]}

        async with bot(data):
            await wait_rows(
                main, "SELECT 1 FROM trade_executions WHERE event_id = ?", (execution_id,)
            )
            ticks = await wait_rows(
                main, "SELECT symbol, bid, ask, ts FROM unified_ticks WHERE symbol = 'EURUSD'"
            )
            assert ticks == [("EURUSD", 1.1, 1.1002, 1_700_000_000_000_000_000)]

            response = await client.post(EVENTS, json=update)
            assert response.status_code == 201, response.text
            [update_id] = response.json()["event_ids"]
            await wait_rows(main, "SELECT 1 FROM position_updates WHERE event_id = ?", (update_id,))

            # The retry of the execution, now committed there, is a replay: no new row.
            again = await client.post(EVENTS, json=execution)
            assert again.status_code == 201
            assert again.json() == {"event_ids": [execution_id]}
    executions = rows(main, "SELECT event_id, ticket, volume FROM trade_executions")
    assert executions == [(execution_id, 4242, 0.5)]
    assert rows(main, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_in_a_node_hosting_every_role_a_list_is_stored_in_order_up_to_a_refusal(
    tmp_path: Path,
) -> None:
    # Alerts and executions have two writers here: they cannot share a transaction.
    event_id = new_event_id()
    execution = {
        "type": "TradeExecution",
        "symbol": "EURUSD",
        "direction": "SELL",
        "entry_price": 1.1,
        "volume": 1.0,
        "event_id": event_id,
    }
    batch = [
        {"type": "TradeAlert", "alert_type": "risk", "severity": "info", "message": "first"},
        {**execution, "ticket": 1},
        {**execution, "ticket": 2},  # the same event_id, another event: the writer refuses it
    ]
    async with (
        open_node(tmp_path / "data", candles=None, monitor=None) as node,
        ApiServer(node, ApiOptions(port=0)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        response = await client.post(EVENTS, json=batch)
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["item"] == 2
        assert "the 2 events before it are stored, it and those after it are not" in body["detail"]
        main = node.path("main")
        assert rows(
            main, "SELECT ticket FROM trade_executions WHERE event_id = ?", (event_id,)
        ) == [(1,)]
        assert rows(node.path("logs"), "SELECT message FROM trade_alerts") == [("first",)]
        assert len(rows(main, "SELECT 1 FROM dead_letters")) == 1
