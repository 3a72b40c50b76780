"""The node: roles, access rules, routing, lifecycle."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from schemas import Tick, TradeAlert
from tradebus import AccessDenied, NoRoute, Topology, TradebusError, open_node
from writers import ANALYSIS, LOGS, MAIN, WriterError, WriterLockError


async def test_open_node_creates_the_data_directory_and_the_three_databases(
    tmp_path: Path,
) -> None:
    data = tmp_path / "a" / "b"
    async with open_node(data) as node:
        assert node.path("main") == data / "unified_tick_pipeline.db"
    assert sorted(p.name for p in data.glob("*.db")) == [
        "analysis_data.db", "system_logs.db", "unified_tick_pipeline.db",
    ]  # fmt: skip


def test_a_topology_knows_the_home_of_every_event_type() -> None:
    topology = Topology({"feed": MAIN.with_filename("ticks.db"), "ops": LOGS})
    for spec in (MAIN, LOGS):
        for event_type in spec.event_types:
            home = topology.home(event_type)
            assert home is not None
            assert home.name == spec.name
    assert topology.home(Tick(symbol="BTCUSDT", bid=1.0, ask=1.1)) == topology.spec("feed")
    for event_type in ANALYSIS.event_types:
        assert topology.home(event_type) is None  # no role owns the analysis database


async def test_a_node_hosts_only_the_writers_of_its_roles(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["desktop_agent"]) as node:
        assert node.writer("analysis").spec is ANALYSIS
        with pytest.raises(AccessDenied, match="chatgpt_bot -> main"):
            node.writer("main")
        with pytest.raises(AccessDenied, match="api_server"):
            node.integration("api_server")
        with pytest.raises(AccessDenied, match="there is no role 'nosuchrole': the roles are"):
            node.integration("nosuchrole")
    assert not (tmp_path / "unified_tick_pipeline.db").exists()


async def test_an_event_whose_owner_is_not_hosted_goes_to_the_outbox_of_the_node_s_file(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=1.0, ask=1.1))
        api = node.integration("api_server")
        await api.log_trade_recommendation(
            symbol="BTCUSDT", direction="BUY", entry_price=10.0, stop_loss=9.0,
            take_profit=11.0, confidence=10,
        )  # fmt: skip
        await api.log_trade_alert(alert_type="system", severity="info", message="ok")
    with sqlite3.connect(tmp_path / "system_logs.db") as conn:
        outbox = conn.execute("SELECT seq, destination, topic FROM outbox ORDER BY seq").fetchall()
        assert outbox == [
            (1, "main", "market.tick.BTCUSDT"),
            (2, "analysis", "analysis.recommendation.BTCUSDT"),
        ]
        assert conn.execute("SELECT count(*) FROM trade_alerts").fetchone() == (1,)
    assert not (tmp_path / "unified_tick_pipeline.db").exists()  # its owner never ran


async def test_an_event_no_role_of_the_topology_owns_raises_no_route_at_once(
    tmp_path: Path,
) -> None:
    topology = Topology({"feed": MAIN})
    async with open_node(tmp_path, topology=topology) as node:
        with pytest.raises(NoRoute, match="'logs' database"):
            node.bus.publish_nowait(TradeAlert(alert_type="risk", severity="info", message="x"))
        with pytest.raises(NoRoute, match="feed -> main"):
            await node.integration("feed").log_trade_alert(
                alert_type="risk", severity="info", message="x"
            )
        assert node.bus.statistics().published == 0


async def test_an_event_is_stored_by_its_home_database_not_by_the_role_that_logged_it(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        await node.integration("chatgpt_bot").log_trade_alert(
            alert_type="risk", severity="warning", message="from the bot"
        )
    with sqlite3.connect(tmp_path / "system_logs.db") as conn:
        assert conn.execute("SELECT message FROM trade_alerts").fetchall() == [("from the bot",)]


async def test_reader_reads_any_database_and_cannot_write(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot", "api_server"]) as node:
        await node.integration("api_server").log_trade_alert(
            alert_type="risk", severity="info", message="m"
        )
        async with node.reader("logs") as conn:
            async with conn.execute("SELECT count(*) FROM trade_alerts") as cursor:
                assert await cursor.fetchone() == (1,)
            with pytest.raises(sqlite3.OperationalError):
                await conn.execute("DELETE FROM trade_alerts")


async def test_leaving_the_node_commits_everything_published(tmp_path: Path) -> None:
    async with open_node(tmp_path, max_delay=10.0) as node:
        for i in range(2000):
            node.bus.publish_nowait(Tick(symbol="ETHUSDT", bid=100.0 + i, ask=101.0 + i))
    with sqlite3.connect(tmp_path / "unified_tick_pipeline.db") as conn:
        assert conn.execute("SELECT count(*) FROM unified_ticks").fetchone() == (2000,)


async def test_an_error_in_the_body_reaches_the_caller_as_itself_and_data_is_kept(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with open_node(tmp_path) as node:
            node.bus.publish_nowait(TradeAlert(alert_type="risk", severity="info", message="m"))
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await body()
    with sqlite3.connect(tmp_path / "system_logs.db") as conn:
        assert conn.execute("SELECT count(*) FROM trade_alerts").fetchone() == (1,)


async def test_a_second_node_for_the_same_role_is_refused(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["chatgpt_bot"]):
        with pytest.raises(WriterLockError, match="chatgpt_bot"):
            async with open_node(tmp_path, roles=["chatgpt_bot"]):
                pass  # pragma: no cover


async def test_a_failing_writer_tears_the_node_down_loudly(tmp_path: Path) -> None:
    async def body() -> None:
        async with open_node(tmp_path, roles=["api_server"]) as node:
            (tmp_path / "system_logs.db").unlink()
            await node.integration("api_server").log_trade_alert(
                alert_type="risk", severity="info", message="lost?"
            )

    with pytest.raises(WriterError, match="vanished"):
        await body()


async def test_a_custom_topology_renames_roles_and_files(tmp_path: Path) -> None:
    topology = Topology({"feed": MAIN.with_filename("ticks.db"), "agent": ANALYSIS, "ops": LOGS})
    async with open_node(tmp_path, topology=topology) as node:
        node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=1.0, ask=1.5))
        await node.integration("ops").log_system_health(component="feed", status="ok")
        with pytest.raises(AccessDenied):
            node.integration("chatgpt_bot")
    with sqlite3.connect(tmp_path / "ticks.db") as conn:
        assert conn.execute("SELECT count(*) FROM unified_ticks").fetchone() == (1,)


def test_topology_rejects_two_owners_for_one_database() -> None:
    with pytest.raises(ValueError, match="exactly one owner"):
        Topology({"a": MAIN, "b": MAIN})


async def test_roles_may_name_a_single_role(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles="api_server") as node:
        assert node.roles == ("api_server",)


async def test_a_data_directory_that_is_a_file_is_refused_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory")
    with pytest.raises(TradebusError, match="exists and is not a directory"):
        async with open_node(data):
            pass
    assert data.read_text() == "not a directory"


async def test_a_closed_node_refuses_reads_through_its_shared_connections(tmp_path: Path) -> None:
    node = open_node(tmp_path)
    with pytest.raises(TradebusError, match="not started"):
        await node.shared_reader("main")
    async with node:
        bot = node.integration("chatgpt_bot")
        assert await bot.open_positions() == []
    with pytest.raises(TradebusError, match="it is closed"):
        await bot.open_positions()
    async with node.reader("main") as conn:  # a reader of its own works any time
        assert list(await conn.execute_fetchall("SELECT count(*) FROM trade_positions")) == [(0,)]


def test_a_node_used_with_a_plain_with_says_how_to_use_it(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="async with open_node"), open_node(tmp_path):
        pass  # pragma: no cover - never entered
    assert list(tmp_path.iterdir()) == []  # nothing was started
