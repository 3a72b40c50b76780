"""Delivery between nodes of one data directory: outbox, relays, cursors, trimming.

Each node here hosts some roles, as a process of the three-process system does (the
nodes share one event loop only for speed; the multi-process tests are in
``tests/reliability/test_delivery_processes.py``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import msgspec
import pytest

import schemas
from schemas import Tick
from tests.reliability._helpers import count, integrity, read_only
from tests.writers._helpers import wait_until
from tradebus import Node, NotDelivered, open_node

MAIN = "unified_tick_pipeline.db"
ANALYSIS = "analysis_data.db"
LOGS = "system_logs.db"


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with read_only(path) as conn:
        return conn.execute(sql).fetchall()


def _relayed(node: Node, relay: str) -> int:
    return node.statistics().relays[relay].delivered


def _ticks(n: int, symbols: int = 3) -> list[Tick]:
    return [
        Tick(symbol=f"S{i % symbols}", bid=100.0 + i, ask=100.5 + i, ts=1_000_000 + i)
        for i in range(n)
    ]


async def test_an_execution_logged_by_the_agent_is_stored_by_the_bot_linked_once(
    tmp_path: Path,
) -> None:
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]) as bot,
        open_node(tmp_path, roles=["desktop_agent"]) as agent,
    ):
        calls = agent.integration("desktop_agent")
        rec = await calls.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=100.0, stop_loss=90.0,
            take_profit=120.0, confidence=80,
        )  # fmt: skip
        await calls.log_trade_execution(
            ticket=7, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0,
            recommendation_id=rec,
        )  # fmt: skip
        # Durable in the agent's outbox, with its recommendation's update.
        assert _rows(tmp_path / ANALYSIS, "SELECT status FROM trade_recommendations") == [
            ("executed",)
        ]
        await agent.delivered(timeout=30)
        with anyio.fail_after(30):  # the relay counts once its wait returns
            await wait_until(lambda: _relayed(bot, f"{ANALYSIS} -> main") == 1)
    assert _rows(tmp_path / MAIN, "SELECT ticket, recommendation_id FROM trade_executions") == [
        (7, rec)
    ]
    assert _rows(tmp_path / MAIN, "SELECT ticket, status FROM trade_positions") == [(7, "open")]
    [(source, cursor, events)] = _rows(
        tmp_path / MAIN, "SELECT source, cursor, events FROM relay_cursors"
    )
    assert str(source).startswith(f"{ANALYSIS}#")
    assert (cursor, events) == (1, 1)


#: The ticks an outbox holds (a row of several holds minus its ``grp``).
_TICKS_HELD = "SELECT sum(CASE WHEN grp < 0 THEN -grp ELSE 1 END) FROM outbox"


async def test_an_owner_down_for_a_while_gets_everything_in_order_once_it_starts(
    tmp_path: Path,
) -> None:
    ticks = _ticks(5_000)
    async with open_node(tmp_path, roles=["api_server"]) as api:
        for tick in ticks:
            await api.bus.publish(tick)
        await api.bus.flush()
        # Several ticks to a row (each row delivered whole, or not at all).
        assert _rows(tmp_path / LOGS, _TICKS_HELD) == [(len(ticks),)]
        assert count(tmp_path / LOGS, "outbox") < len(ticks) // 100
        assert not (tmp_path / MAIN).exists()  # the owner never ran
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as bot:
        async with open_node(tmp_path, roles=["api_server"]) as api:
            await api.delivered(timeout=60)
        with anyio.fail_after(30):  # the relay counts once its wait returns
            await wait_until(lambda: _relayed(bot, f"{LOGS} -> main") == len(ticks))
    stored = _rows(tmp_path / MAIN, "SELECT symbol, bid, ts FROM unified_ticks ORDER BY seq")
    assert stored == [(t.symbol, t.bid, t.ts) for t in ticks]  # each once, in order


async def test_ticks_relayed_again_after_a_restart_are_stored_once(tmp_path: Path) -> None:
    # Delivered in pieces across restarts of the owner and of the sender: the cursor
    # committed with the rows decides, so no tick is stored twice or skipped.
    ticks = _ticks(3_000)
    for part in range(3):
        async with open_node(tmp_path, roles=["desktop_agent"]) as agent:
            for tick in ticks[part * 1_000 : (part + 1) * 1_000]:
                await agent.bus.publish(tick)
            await agent.bus.flush()
        async with (
            open_node(tmp_path, roles=["chatgpt_bot"]),
            open_node(tmp_path, roles=["desktop_agent"]) as agent,
        ):
            await agent.delivered(timeout=60)
    stored = _rows(tmp_path / MAIN, "SELECT bid FROM unified_ticks ORDER BY seq")
    assert stored == [(t.bid,) for t in ticks]


async def test_a_process_hosting_no_role_publishes_durably_through_its_own_outbox(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=()) as script:
        alert = await script.integration("api_server").log_trade_alert(
            alert_type="risk", severity="warning", message="from a cron job"
        )
        script.bus.publish_nowait(_ticks(1)[0])
        await script.bus.flush()
        assert not (tmp_path / LOGS).exists()
        assert not (tmp_path / MAIN).exists()
        assert script.statistics().writers["outbox"].rows["outbox"] == 2
    outbox = tmp_path / "outboxes" / "client-1.db"
    assert _rows(outbox, "SELECT destination FROM outbox ORDER BY seq") == [("logs",), ("main",)]
    async with open_node(tmp_path) as owner:  # every role: relays from the client's file
        async with open_node(tmp_path, roles=()) as script:  # takes client-1.db again
            await script.delivered(timeout=30)
        assert owner.statistics().relays["outboxes/client-1.db -> logs"].delivered == 1
    assert _rows(tmp_path / LOGS, "SELECT event_id, message FROM trade_alerts") == [
        (alert, "from a cron job")
    ]
    assert count(tmp_path / MAIN, "unified_ticks") == 1


async def test_two_role_less_processes_write_two_outbox_files(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=()) as one, open_node(tmp_path, roles=()) as two:
        one.bus.publish_nowait(_ticks(1)[0])
        two.bus.publish_nowait(_ticks(1)[0])
    assert sorted(p.name for p in (tmp_path / "outboxes").glob("*.db")) == [
        "client-1.db",
        "client-2.db",
    ]


async def test_delivered_rows_are_trimmed_and_positions_are_never_used_again(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(10):
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
            # Trimmed within a second or so of the owner's commit.
            with anyio.fail_after(30):
                await wait_until(lambda: count(tmp_path / LOGS, "outbox") == 0)
        [(used,)] = _rows(tmp_path / LOGS, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
        last = int(str(used))
        assert last >= 1
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(5):
                await api.bus.publish(tick)
            await api.bus.flush()
            # Positions go on after the last one used, even with every row trimmed.
            assert _rows(tmp_path / LOGS, "SELECT min(seq) FROM outbox") == [(last + 1,)]
            await api.delivered(timeout=30)
    assert count(tmp_path / MAIN, "unified_ticks") == 15


async def test_a_row_that_is_not_a_valid_event_goes_to_the_owner_s_dead_letters(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as api:
        api.bus.publish_nowait(_ticks(1)[0])
    # A hostile or broken sender's row: bytes that are no event, and a tick whose
    # bid is negative (invalid), between two valid ticks.
    bad_tick = msgspec.msgpack.encode(["Tick", "BTCUSDT", -1.0, 1.0, None, 0.0, 5])
    with sqlite3.connect(tmp_path / LOGS) as conn:
        for data, topic in (
            (b"\xc1garbage", "market.tick.BTCUSDT"),
            (bad_tick, "market.tick.BTCUSDT"),
            (schemas.encode(_ticks(2)[1]), "market.tick.S1"),
        ):
            conn.execute(
                "INSERT INTO outbox (destination, topic, data, ts) VALUES ('main', ?, ?, 1)",
                (topic, data),
            )
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        api.bus.publish_nowait(_ticks(3)[2])  # delivered() waits for what it sent
        with pytest.raises(NotDelivered, match=r"main.*(and 1 more)") as caught:
            await api.delivered(timeout=30)
        assert [position for position, _, _ in caught.value.events] == [2, 3]
        await api.delivered(timeout=30)  # reported once
    assert count(tmp_path / MAIN, "unified_ticks") == 3
    letters = _rows(tmp_path / MAIN, "SELECT cursor, origin FROM dead_letters ORDER BY cursor")
    assert [c for c, _ in letters] == [2, 3]
    assert all(str(o).startswith(LOGS) for _, o in letters)
    assert integrity(tmp_path / MAIN) == "ok"


async def test_a_replaced_source_file_is_read_from_its_start(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(3):
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / (LOGS + suffix)).unlink(missing_ok=True)
        async with open_node(tmp_path, roles=["api_server"]) as api:  # a new file
            for tick in _ticks(2):
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
    assert count(tmp_path / MAIN, "unified_ticks") == 5
    assert len(_rows(tmp_path / MAIN, "SELECT source FROM relay_cursors")) == 2


async def test_a_source_that_cannot_be_read_is_retried_and_stops_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "outboxes").mkdir()
    (tmp_path / "outboxes" / "client-9.db").write_bytes(b"not a database at all" * 500)
    async with open_node(tmp_path, roles=["chatgpt_bot"]) as bot:
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(3):
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
        with anyio.fail_after(30):  # the directory is looked at every second
            await wait_until(lambda: "outboxes/client-9.db -> main" in bot.statistics().relays)
            await wait_until(lambda: "client-9.db -> main: reading failed" in caplog.text)
    assert count(tmp_path / MAIN, "unified_ticks") == 3


async def test_a_sender_restored_from_an_older_copy_continues_after_what_was_delivered(
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(5):
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
        for suffix in ("", "-wal"):  # a copy of the stopped sender's file
            source = tmp_path / (LOGS + suffix)
            if source.exists():
                (backup / (LOGS + suffix)).write_bytes(source.read_bytes())
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(10)[5:]:
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
        for suffix in ("", "-wal", "-shm"):  # the older copy comes back
            (tmp_path / (LOGS + suffix)).unlink(missing_ok=True)
            if (backup / (LOGS + suffix)).exists():
                (tmp_path / (LOGS + suffix)).write_bytes((backup / (LOGS + suffix)).read_bytes())
        async with open_node(tmp_path, roles=["api_server"]) as api:
            for tick in _ticks(15)[10:]:
                await api.bus.publish(tick)
            await api.delivered(timeout=30)
    stored = _rows(tmp_path / MAIN, "SELECT bid FROM unified_ticks ORDER BY seq")
    assert stored == [(t.bid,) for t in _ticks(15)]  # each once: none lost, none twice


async def test_rows_a_node_forwarded_before_it_hosted_their_owner_are_delivered(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["desktop_agent"]) as agent:
        for tick in _ticks(100):
            await agent.bus.publish(tick)
    async with open_node(tmp_path, roles=["desktop_agent", "chatgpt_bot"]) as both:
        await both.delivered(timeout=30)
        with anyio.fail_after(30):
            await wait_until(lambda: count(tmp_path / MAIN, "unified_ticks") == 100)
    assert count(tmp_path / MAIN, "unified_ticks") == 100


async def test_delivered_reports_what_the_owner_refused_in_the_same_run(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["desktop_agent"]) as agent:
        calls = agent.integration("desktop_agent")
        # Two executions on ticket 7 while the bot is down: the agent cannot tell that
        # the second is refused (a ticket opens one trade) until the bot stores them.
        await calls.log_trade_execution(
            ticket=7, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
        )
        await calls.log_trade_execution(
            ticket=7, symbol="BTCUSDT", direction="SELL", entry_price=101.0, volume=1.0
        )
        async with open_node(tmp_path, roles=["chatgpt_bot"]):
            with pytest.raises(NotDelivered, match="TradeExecution") as caught:
                await agent.delivered(timeout=30)
            assert [position for position, _, _ in caught.value.events] == [2]
            await agent.delivered(timeout=30)  # reported once
    assert _rows(tmp_path / MAIN, "SELECT direction FROM trade_executions") == [("BUY",)]


async def test_a_row_of_the_wrong_database_or_unreadable_columns_goes_to_dead_letters(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as api:
        api.bus.publish_nowait(_ticks(1)[0])
    with sqlite3.connect(tmp_path / LOGS) as conn:
        conn.execute(  # a tick sent to the analysis database
            "INSERT INTO outbox (destination, topic, data, ts) VALUES ('analysis', ?, ?, 1)",
            ("market.tick.S0", schemas.encode(_ticks(1)[0])),
        )
        conn.execute(  # text where bytes belong, a word where the group's position goes
            "INSERT INTO outbox (destination, topic, data, grp, ts) VALUES ('main', ?, ?, ?, 1)",
            ("market.tick.S0", "not bytes", "abc"),
        )
        conn.execute(
            "INSERT INTO outbox (destination, topic, data, ts) VALUES ('main', ?, ?, 1)",
            ("market.tick.S1", schemas.encode(_ticks(2)[1])),
        )
    async with (
        open_node(tmp_path, roles=["chatgpt_bot", "desktop_agent"]),
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        api.bus.publish_nowait(_ticks(3)[2])  # delivered() waits for what it sent
        with pytest.raises(NotDelivered):
            await api.delivered(timeout=30)
    assert count(tmp_path / MAIN, "unified_ticks") == 3
    assert count(tmp_path / MAIN, "dead_letters") == 1
    assert count(tmp_path / ANALYSIS, "dead_letters") == 1


async def test_delivered_waits_for_what_this_node_sent_not_for_an_earlier_process(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=()) as earlier:  # its alert's owner is down
        await earlier.integration("api_server").log_trade_alert(
            alert_type="system", severity="info", message="waits for its owner"
        )
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"]),
        open_node(tmp_path, roles=()) as later,  # takes the same client file
    ):
        later.bus.publish_nowait(_ticks(1)[0])
        await later.delivered(timeout=30)  # the tick is stored; the old alert waits
    assert count(tmp_path / MAIN, "unified_ticks") == 1
    client = tmp_path / "outboxes" / "client-1.db"
    assert count(client, "outbox", "destination = 'logs'") == 1
