"""The trade-integration API end to end, verified with plain sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from schemas import InvalidEvent, Tick
from tests.writers._helpers import wait_until
from tradebus import open_node


def _rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


async def test_the_original_systems_three_examples_land_in_their_databases(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=50000.0, ask=50000.5))
        bot = node.integration("chatgpt_bot")
        await bot.log_trade_execution(
            ticket=12345, symbol="BTCUSDT", direction="BUY", entry_price=50000.0,
            stop_loss=49500.0, take_profit=51000.0, volume=0.01,
        )  # fmt: skip
        agent = node.integration("desktop_agent")
        rec_id = await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=50000.0, stop_loss=49500.0,
            take_profit=51000.0, confidence=85, reasoning="Strong bullish momentum",
        )  # fmt: skip
        api = node.integration("api_server")
        await api.log_trade_monitoring(
            ticket=12345, symbol="BTCUSDT", monitoring_type="stop_loss_hit",
            status="alert_triggered", details="Stop loss hit at 49500.0",
        )  # fmt: skip
        await node.bus.flush()

    main = tmp_path / "unified_tick_pipeline.db"
    assert _rows(main, "SELECT symbol, bid, ask FROM unified_ticks") == [
        ("BTCUSDT", 50000.0, 50000.5)
    ]
    assert _rows(
        main, "SELECT ticket, direction, entry_price, stop_loss, take_profit, volume "
        "FROM trade_executions"
    ) == [(12345, "BUY", 50000.0, 49500.0, 51000.0, 0.01)]  # fmt: skip
    assert _rows(main, "SELECT ticket, status FROM trade_positions") == [(12345, "open")]
    analysis = tmp_path / "analysis_data.db"
    assert _rows(
        analysis,
        "SELECT recommendation_id, confidence, reasoning, status FROM trade_recommendations",
    ) == [(rec_id, 85.0, "Strong bullish momentum", "pending")]
    logs = tmp_path / "system_logs.db"
    assert _rows(logs, "SELECT ticket, monitoring_type, status, details FROM trade_monitoring") == [
        (12345, "stop_loss_hit", "alert_triggered", "Stop loss hit at 49500.0")
    ]


async def test_log_methods_return_after_commit(tmp_path: Path) -> None:
    # A long max_delay: only the integration's wait-for-commit makes the row visible.
    async with open_node(tmp_path, max_delay=5.0) as node:
        api = node.integration("api_server")
        await api.log_trade_alert(alert_type="risk", severity="critical", message="drawdown 5%")
        assert _rows(tmp_path / "system_logs.db", "SELECT message FROM trade_alerts") == [
            ("drawdown 5%",)
        ]


async def test_a_stuck_writer_does_not_hold_the_logs_of_another_database(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, max_backoff=0.05, candles=()) as node:
        main = node.writer("main")
        sql = main.sqlite.query  # on the writer's own connection
        [(pages,)] = await sql("PRAGMA page_count")
        await sql(f"PRAGMA max_page_count={pages}")  # main's disk is full
        for n in range(2_000):  # more than the free room of its last pages
            node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=50000.0 + n, ask=50000.5 + n))
        with anyio.fail_after(10):
            await wait_until(lambda: main.statistics().retries >= 1)
            # The API server can still log its alert about it: the logs writer is fine.
            api = node.integration("api_server")
            await api.log_trade_alert(alert_type="system", severity="critical", message="disk")
        assert _rows(tmp_path / "system_logs.db", "SELECT message FROM trade_alerts") == [("disk",)]
        assert main.statistics().pending == 2_000
        await sql("PRAGMA max_page_count=1073741823")  # the disk is freed
    assert _rows(tmp_path / "unified_tick_pipeline.db", "SELECT count(*) FROM unified_ticks") == [
        (2_000,)
    ]


async def test_recommendation_is_tracked_through_execution_and_close(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        rec_id = await agent.log_trade_recommendation(
            symbol="EURUSD.m", direction="SELL", entry_price=1.1, stop_loss=1.11,
            take_profit=1.08, confidence=70,
        )  # fmt: skip
        [pending] = await agent.recommendations(status="pending")
        assert pending.recommendation_id == rec_id

        await bot.log_trade_execution(
            ticket=7, symbol="EURUSD.m", direction="SELL", entry_price=1.1, volume=1000.0,
            recommendation_id=rec_id,
        )  # fmt: skip
        [executed] = await agent.recommendations(status="executed")
        assert (executed.recommendation_id, executed.ticket) == (rec_id, 7)
        [position] = await bot.open_positions()
        assert (position.ticket, position.recommendation_id) == (7, rec_id)

        await bot.update_position(ticket=7, symbol="EURUSD.m", current_price=1.09,
                                  unrealized_pnl=10.0)  # fmt: skip
        await bot.close_position(ticket=7, symbol="EURUSD.m", close_price=1.08, realized_pnl=20.0)
        [closed] = await agent.recommendations(status="closed")
        assert (closed.outcome, closed.realized_pnl) == ("win", 20.0)
        assert await bot.open_positions() == []

        other = await agent.log_trade_recommendation(
            symbol="EURUSD.m", direction="BUY", entry_price=1.1, stop_loss=1.09,
            take_profit=1.12, confidence=40,
        )  # fmt: skip
        await agent.update_recommendation(recommendation_id=other, status="rejected")
        [rejected] = await agent.recommendations(status="rejected")
        assert rejected.recommendation_id == other

    history = _rows(
        tmp_path / "analysis_data.db",
        "SELECT status FROM recommendation_updates WHERE recommendation_id = ? ORDER BY ts",
        (rec_id,),
    )
    assert history == [("executed",), ("closed",)]
    positions = _rows(
        tmp_path / "unified_tick_pipeline.db",
        "SELECT status, close_price, realized_pnl FROM trade_positions WHERE ticket = 7",
    )
    assert positions == [("closed", 1.08, 20.0)]


async def test_losing_and_flat_closes_record_their_outcome(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        for ticket, pnl in ((1, -3.0), (2, 0.0)):
            rec = await agent.log_trade_recommendation(
                symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=99.0,
                take_profit=102.0, confidence=50,
            )  # fmt: skip
            await bot.log_trade_execution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0,
                volume=1.0, recommendation_id=rec,
            )  # fmt: skip
            await bot.close_position(ticket=ticket, symbol="BTCUSDT", close_price=100.0,
                                     realized_pnl=pnl)  # fmt: skip
        outcomes = sorted((r.ticket, r.outcome) for r in await agent.recommendations("closed"))
    assert outcomes == [(1, "loss"), (2, "breakeven")]


async def test_bad_arguments_raise_invalid_event_and_store_nothing(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        with pytest.raises(InvalidEvent, match="stop_loss"):
            await bot.log_trade_execution(
                ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=100.0,
                stop_loss=101.0, volume=1.0,
            )  # fmt: skip
        with pytest.raises(InvalidEvent, match="confidence"):
            await node.integration("desktop_agent").log_trade_recommendation(
                symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=99.0,
                take_profit=101.0, confidence=150,
            )  # fmt: skip
        with pytest.raises(InvalidEvent, match="volume"):
            await bot.log_trade_execution(
                ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=0.0
            )
    assert _rows(
        tmp_path / "unified_tick_pipeline.db", "SELECT count(*) FROM trade_executions"
    ) == [(0,)]


async def test_reads_return_typed_records(tmp_path: Path) -> None:
    async with open_node(tmp_path) as node:
        bot = node.integration("chatgpt_bot")
        for i in range(5):
            node.bus.publish_nowait(Tick(symbol="XAUUSD.r", bid=2000.0 + i, ask=2000.5 + i))
        await node.bus.flush()
        ticks = await bot.recent_ticks("XAUUSD.r", limit=3)
        assert [t.bid for t in ticks] == [2004.0, 2003.0, 2002.0]
        api = node.integration("api_server")
        await api.log_trade_alert(alert_type="profit", severity="info", message="+2R",
                                  symbol="XAUUSD.r")  # fmt: skip
        [alert] = await api.alerts()
        assert (alert.alert_type, alert.message, alert.symbol) == ("profit", "+2R", "XAUUSD.r")
        assert await api.alerts(since=alert.ts + 1) == []
