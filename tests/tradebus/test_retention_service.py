"""Retention as a node's service: each hosted database pruned by its own writer."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import msgspec
import pytest

from schemas import ApiLog, Tick
from tradebus import Node, Retention, RetentionService, open_node, retention_service
from tradebus._status import STATUS_FILENAME

from ..writers._helpers import count, wait_until

DAY = 86_400 * 1_000_000_000


async def _fill(path: Path, now: int) -> None:
    """Ticks and API logs, some 100 days old, some a day old."""
    async with Node(path, status_file=False) as node:
        for ts in (now - 100 * DAY, now - DAY):
            for i in range(50):
                node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=1.0, ask=1.5, ts=ts + i))
            node.bus.publish_nowait(
                ApiLog(method="GET", path="/", status_code=200, duration_ms=1.0, ts=ts)
            )
        await node.bus.flush()


async def test_a_retention_service_prunes_every_database_its_node_writes(tmp_path: Path) -> None:
    await _fill(tmp_path, time.time_ns())
    policy = Retention(ticks=30, logs=90)
    async with (
        Node(tmp_path, status_file=False) as node,
        RetentionService(node, policy),  # its first pass starts at once
    ):
        with anyio.fail_after(30):
            await wait_until(
                lambda: (
                    node.statistics().writers["main"].pruned.get("unified_ticks") == 50
                    and node.statistics().writers["logs"].pruned.get("api_logs") == 1
                )
            )
    assert count(tmp_path / "unified_tick_pipeline.db", "unified_ticks") == 50
    assert count(tmp_path / "system_logs.db", "api_logs") == 1
    assert count(tmp_path / "analysis_data.db", "trade_analysis") == 0


@pytest.mark.parametrize("how", ["services", "open_node"])
async def test_a_node_service_prunes_every_database_it_writes(tmp_path: Path, how: str) -> None:
    await _fill(tmp_path, time.time_ns())
    policy = Retention(ticks=30, logs=90)
    node = (
        Node(tmp_path, status_file=False, services=[retention_service(policy)])
        if how == "services"
        else open_node(tmp_path, status_file=False, retention=policy)
    )
    async with node:
        with anyio.fail_after(30):
            await wait_until(
                lambda: (
                    node.statistics().writers["main"].pruned.get("unified_ticks") == 50
                    and node.statistics().writers["logs"].pruned.get("api_logs") == 1
                )
            )
    assert count(tmp_path / "unified_tick_pipeline.db", "unified_ticks") == 50
    assert count(tmp_path / "system_logs.db", "api_logs") == 1


async def test_a_service_of_some_roles_prunes_only_their_databases(tmp_path: Path) -> None:
    await _fill(tmp_path, time.time_ns())
    policy = Retention(ticks=30, logs=90)
    async with (
        Node(tmp_path, roles=["api_server"], status_file=False) as node,
        RetentionService(node, policy) as service,
    ):
        reports = await service.prune()  # after the pass the service started with
        assert list(reports) == ["logs"]
        assert service.statistics()["logs"].pruned == {
            "api_logs": 1,
            **dict.fromkeys(("trade_monitoring", "trade_alerts", "system_health"), 0),
        }
    assert count(tmp_path / "unified_tick_pipeline.db", "unified_ticks") == 100
    assert count(tmp_path / "system_logs.db", "api_logs") == 1


async def test_a_retention_service_needs_a_policy() -> None:
    with pytest.raises(TypeError, match="retention must be a Retention"):
        retention_service({"ticks": 30})  # type: ignore[arg-type]


async def test_tradebus_status_shows_what_retention_pruned(tmp_path: Path) -> None:
    await _fill(tmp_path, time.time_ns())
    policy = Retention(ticks=30, logs=90)
    async with (
        Node(tmp_path) as node,
        RetentionService(node, policy),
    ):
        with anyio.fail_after(30):
            await wait_until(
                lambda: (
                    sum(sum(w.pruned.values()) for w in node.statistics().writers.values()) == 51
                )
            )

        def shown() -> bool:
            status = msgspec.json.decode((tmp_path / STATUS_FILENAME).read_bytes())
            return any(
                w.get("pruned") == 50 for p in status["processes"].values()
                for w in p["writers"].values()
            )  # fmt: skip

        with anyio.fail_after(30):
            await wait_until(shown)
        result = await anyio.run_process(
            [sys.executable, "-m", "tradebus", "status", "--data-dir", str(tmp_path)],
            check=False,
            env={**os.environ, "COLUMNS": "250"},
        )
    assert "retention pruned 51 rows" in result.stdout.decode()
