"""The bundled role apps, in one node: a trade's whole life, each step logged once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from tradebus import open_node, role_apps

_DEADLINE = 60.0


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            return list(conn.execute(sql))
        except sqlite3.OperationalError:  # its writer is creating it
            return []


def closed_and_alerted(data: Path) -> set[int]:
    """Tickets whose whole life is stored: executed after a recommendation, closed,
    the recommendation closed with its outcome, monitored and alerted."""
    main = data / "unified_tick_pipeline.db"
    closed = {
        (int(ticket), str(rec)): None
        for ticket, rec in _query(
            main,
            "SELECT p.ticket, e.recommendation_id FROM trade_positions p "
            "JOIN trade_executions e USING (ticket) "
            "WHERE p.status = 'closed' AND e.recommendation_id IS NOT NULL",
        )
    }
    recs = {
        str(rec)
        for (rec,) in _query(
            data / "analysis_data.db",
            "SELECT recommendation_id FROM trade_recommendations "
            "WHERE status = 'closed' AND outcome IS NOT NULL",
        )
    }
    logs = data / "system_logs.db"
    alerted = {int(t) for (t,) in _query(logs, "SELECT ticket FROM trade_alerts")}
    opened = {
        int(t)
        for (t,) in _query(
            logs, "SELECT ticket FROM trade_monitoring WHERE monitoring_type = 'position_opened'"
        )
    }
    return {t for t, rec in closed if rec in recs and t in alerted and t in opened}


async def _run_until(data: Path, condition: Callable[[], object]) -> None:
    async with open_node(data, monitor="simulate") as node, anyio.create_task_group() as tg:
        tg.start_soon(lambda: role_apps.chatgpt_bot(node, rate=300, max_hold=0.5, seed=1))
        tg.start_soon(lambda: role_apps.desktop_agent(node, every=0.1, seed=2))
        tg.start_soon(lambda: role_apps.api_server(node, every=0.05, health_every=0.2))
        deadline = time.monotonic() + _DEADLINE
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for closed trades"
            await anyio.sleep(0.05)
        tg.cancel_scope.cancel()


async def test_the_role_apps_log_a_trades_whole_life_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _run_until(data, lambda: len(closed_and_alerted(data)) >= 2)
    first = closed_and_alerted(data)
    # Restarted, the apps go on where they were: new trades, nothing logged twice.
    await _run_until(data, lambda: closed_and_alerted(data) - first)
    logs = data / "system_logs.db"
    assert (
        _query(logs, "SELECT ticket, count(*) FROM trade_alerts GROUP BY 1 HAVING count(*) > 1")
        == []
    )
    assert (
        _query(
            logs,
            "SELECT ticket, monitoring_type, count(*) FROM trade_monitoring "
            "GROUP BY 1, 2 HAVING count(*) > 1",
        )
        == []
    )
    statuses = dict(
        _query(logs, "SELECT component, count(*) FROM system_health GROUP BY component")
    )
    assert {"feed", "writer.main", "writer.analysis", "writer.logs"} <= set(statuses)
    # Each role's process, from the status file: this one, running.
    processes = _query(
        logs,
        "SELECT component, status FROM system_health WHERE component LIKE 'process.%' "
        "ORDER BY ts DESC LIMIT 3",
    )
    assert sorted(processes) == [
        ("process.api_server", "ok"), ("process.chatgpt_bot", "ok"),
        ("process.desktop_agent", "ok"),
    ]  # fmt: skip
