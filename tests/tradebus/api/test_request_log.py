"""Every request of the API becomes a row of ``api_logs``: its method, its route's
template, its status, the client; a full bus drops the line, never the request."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import httpx

from tradebus import open_node
from tradebus.api import ApiOptions, ApiServer

from ._rows import rows, wait_rows
from ._server import serve

EVENTS = "/api/v1/events"
ALERT = {"type": "TradeAlert", "alert_type": "system", "severity": "info", "message": "hi"}


async def test_each_request_is_logged_with_its_route_template_and_status(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with serve(data) as server, server.client() as client:
        # No token set: intake is open.
        assert (await client.post(EVENTS, json=ALERT)).status_code == 201
        assert (await client.post(EVENTS, json={**ALERT, "severity": "loud"})).status_code == 422
        assert (
            await client.post(EVENTS, content=b"x=1", headers={"Content-Type": "text/csv"})
        ).status_code == 415
        assert (await client.post(EVENTS, json=[ALERT] * 101)).status_code == 413
        webhook = await client.post(
            "/api/v1/webhooks/alert?token=not-logged", content=b"level crossed"
        )
        assert webhook.status_code == 201
        document = await client.get("/api/v1/openapi.json?secret=not-logged")
        assert document.status_code == 200
        expected = {
            ("POST", EVENTS, 201),
            ("POST", EVENTS, 422),
            ("POST", EVENTS, 415),
            ("POST", EVENTS, 413),
            ("POST", "/api/v1/webhooks/alert", 201),
            ("GET", "/api/v1/openapi.json", 200),
        }
        logged = await wait_rows(
            data / "system_logs.db",
            "SELECT method, path, status_code, duration_ms, client FROM api_logs",
            until=lambda found: expected <= {row[:3] for row in found},
        )
    assert len(logged) == len(expected)  # one line per request: none twice, none else
    for _method, path, _status, duration_ms, client in logged:
        assert "not-logged" not in path
        assert "?" not in path
        assert duration_ms >= 0
        assert client == "127.0.0.1"


async def test_a_full_bus_drops_and_counts_lines_and_requests_are_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A writer that holds few events, and its database locked by another connection:
    # it cannot commit, its buffer fills, and the request log meets a full bus.
    async with open_node(
        data, roles=("api_server",), max_buffer=2, max_backoff=0.05, candles=None, monitor=None
    ) as node:
        with contextlib.closing(sqlite3.connect(node.path("logs"), timeout=0)) as lock:
            lock.execute("BEGIN EXCLUSIVE")
            async with (
                ApiServer(node, ApiOptions(port=0)) as server,
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            ):
                stats = server.context.request_log
                for _ in range(10):
                    response = await client.get("/api/v1/openapi.json")
                    assert response.status_code == 200
                assert stats.dropped > 0
                assert stats.logged + stats.dropped == 10
                assert stats.failed == 0
                lock.rollback()
                # Once the writer commits again, lines are logged again.
                dropped = stats.dropped
                await wait_rows(
                    node.path("logs"),
                    "SELECT 1 FROM api_logs",
                    until=lambda r: len(r) >= stats.logged,
                )
                response = await client.get("/api/v1/openapi.json")
                assert response.status_code == 200
                assert stats.dropped == dropped
                assert stats.logged == 10 - dropped + 1
                await wait_rows(
                    node.path("logs"),
                    "SELECT 1 FROM api_logs",
                    until=lambda r: len(r) == stats.logged,
                )
    assert rows(data / "system_logs.db", "SELECT count(*) FROM api_logs") == [(11 - dropped,)]
