"""The read endpoints' refusals (bad parameters, cursors not given by the server, no
token) and what they answer where there is nothing to read, or something breaks."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tradebus import open_node

from ._read_data import write_data
from ._server import ServerProcess, serve

API = "/api/v1"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("errors") / "data"
    await write_data(data_dir)
    async with serve(data_dir) as served:
        yield served


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


BAD = [
    ("/ticks?symbol=EURUSD&limit=1001", ["'limit' = 1001", "allowed: 1 to 1000"]),
    ("/ticks?symbol=EURUSD&limit=100000000000000000000000", ["'limit'"]),
    ("/ticks?symbol=EURUSD&limit=0", ["'limit' = '0'", ">= 1"]),
    ("/ticks?symbol=EURUSD&limit=ten", ["'limit' = 'ten'"]),
    ("/ticks?symbol=EUR%20USD", ["'symbol' = 'EUR USD'"]),
    ("/ticks", ["'symbol'"]),
    ("/ticks?symbol=EURUSD&order=sideways", ["'order' = 'sideways'", "allowed: desc, asc"]),
    ("/ticks?symbol=EURUSD&start=-1", ["'start' = '-1'", "out of range"]),
    ("/ticks?symbol=EURUSD&end=99999999999999999999", ["'end'", "out of range"]),
    ("/ticks?symbol=EURUSD&start=yesterday", ["'start' = 'yesterday'", "not a time"]),
    (
        "/ticks?symbol=EURUSD&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
        ["'start' = '2026-01-02T00:00:00Z'", "after end", "start <= end"],
    ),
    (
        "/candles?symbol=EURUSD&timeframe=M2",
        ["'timeframe' = 'M2'", "allowed: M1, M5, M15, M30, H1, H4, D1"],
    ),
    ("/candles?symbol=EURUSD", ["'timeframe'"]),
    ("/positions?state=pending", ["'state' = 'pending'", "allowed: open, closed, all"]),
    ("/positions/0", ["'ticket' = '0'", ">= 1"]),
    ("/positions/-3", ["'ticket'"]),
    ("/positions/9223372036854775808", ["'ticket'", "<= 9223372036854775807"]),
    ("/journal/9223372036854775808", ["'ticket'", "<= 9223372036854775807"]),
    (
        "/recommendations?status=won",
        ["'status' = 'won'", "allowed: pending, executed, rejected, expired, closed, all"],
    ),
    ("/alerts?severity=fatal", ["'severity' = 'fatal'", "allowed: info, warning, critical, all"]),
    ("/alerts?type=money", ["'type' = 'money'", "allowed: risk, profit, system, all"]),
    ("/alerts?since=soon", ["'since' = 'soon'", "not a time"]),
    ("/monitoring?ticket=x", ["'ticket' = 'x'"]),
    ("/processes?state=alive", ["'state' = 'alive'", "allowed: running, stopping"]),
    ("/symbols?cursor=not-a-cursor", ["'cursor' = 'not-a-cursor'", "not one this API gave"]),
]


@pytest.mark.parametrize(("path", "said"), BAD)
async def test_a_bad_parameter_is_a_400_naming_it(
    client: httpx.AsyncClient, path: str, said: list[str]
) -> None:
    response = await client.get(API + path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status_code"] == 400
    for words in said:
        assert words in body["detail"], body["detail"]
    assert "Traceback" not in response.text


async def test_a_cursor_is_only_good_for_its_own_list(client: httpx.AsyncClient) -> None:
    first = (await client.get(f"{API}/ticks", params={"symbol": "EURUSD", "limit": 3})).json()
    cursor = first["next_cursor"]
    again = await client.get(f"{API}/ticks", params={"symbol": "EURUSD", "cursor": cursor})
    assert again.status_code == 200
    assert again.json()["items"][0]["ts"] == first["items"][-1]["ts"] - 1_000_000_000
    elsewhere = [
        ("/ticks", {"symbol": "GBPUSD"}),  # another symbol
        ("/ticks", {"symbol": "EURUSD", "order": "asc"}),  # another order
        ("/ticks", {"symbol": "EURUSD", "start": "1"}),  # another range
        ("/executions", {}),  # another endpoint
    ]
    for path, params in elsewhere:
        response = await client.get(API + path, params={**params, "cursor": cursor})
        assert response.status_code == 400, (path, params, response.text)
        assert "not one this API gave" in response.json()["detail"]
    for altered in (cursor[:-1], cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), "x" * 600):
        response = await client.get(f"{API}/ticks", params={"symbol": "EURUSD", "cursor": altered})
        assert response.status_code == 400, altered


async def test_reads_of_databases_not_made_yet_are_empty(tmp_path: Path) -> None:
    async with serve(tmp_path / "data") as server, server.client() as client:
        for path in ("/ticks?symbol=EURUSD", "/candles?symbol=EURUSD&timeframe=H1", "/symbols"):
            response = await client.get(API + path)
            assert response.json() == {"items": [], "next_cursor": None}, path
        for path in ("/positions", "/executions", "/recommendations", "/alerts"):
            response = await client.get(API + path)
            assert response.json() == {"items": [], "next_cursor": None}, path
        assert (await client.get(f"{API}/positions/5")).status_code == 404
        assert (await client.get(f"{API}/journal/5")).status_code == 404
    assert not (tmp_path / "data" / "unified_tick_pipeline.db").exists()  # never made by reads


async def test_an_internal_error_says_so_and_nothing_more(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with open_node(data_dir, roles=["chatgpt_bot"], monitor=None, candles=()):
        pass
    with closing(sqlite3.connect(data_dir / "unified_tick_pipeline.db")) as conn:
        # a table the reads cannot read as they expect (a column is gone)
        conn.executescript("DROP TABLE unified_ticks; CREATE TABLE unified_ticks (symbol TEXT);")
    async with serve(data_dir) as server, server.client() as client:
        response = await client.get(f"{API}/ticks", params={"symbol": "EURUSD"})
        assert response.status_code == 500
        assert response.json() == {"status_code": 500, "detail": "internal error"}
        assert (await client.get(f"{API}/alerts")).status_code == 200  # others still answer
    logged = server.output()
    assert "GET /api/v1/ticks failed with an internal error" in logged
    assert "Traceback" in logged  # for the operator, in the server's log


async def test_reads_need_the_token_when_asked(tmp_path: Path) -> None:
    env = {"TRADEBUS_API_TOKEN": TOKEN}
    async with serve(tmp_path / "data", "--api-auth-reads", env=env) as server:
        async with server.client() as anonymous:
            for path in ("/ticks?symbol=EURUSD", "/positions", "/journal/1", "/processes"):
                response = await anonymous.get(API + path)
                assert response.status_code == 401, path
                assert response.json()["status_code"] == 401
                assert "bearer token" in response.json()["detail"]
                assert response.headers["www-authenticate"].startswith("Bearer")
        async with server.client("wrong") as wrong:
            assert (await wrong.get(f"{API}/positions")).status_code == 401
        async with server.client(TOKEN) as known:
            assert (await known.get(f"{API}/positions")).json()["items"] == []
            assert (await known.get(f"{API}/processes")).status_code == 200


async def test_reads_are_open_when_only_intake_needs_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async with (
        serve(tmp_path / "data", "--api-token-file", str(token_file)) as server,
        server.client() as anonymous,
    ):
        for path in ("/ticks?symbol=EURUSD", "/positions", "/health", "/processes"):
            assert (await anonymous.get(API + path)).status_code == 200, path
