"""POST /api/v1/events against a real ``tradebus serve`` with a token: what is stored
where, what is refused and why, and that an event is stored once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from schemas import new_event_id

from ._rows import rows, wait_rows
from ._server import ServerProcess, serve

TOKEN = "s3cret-token"
EVENTS = "/api/v1/events"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    base = tmp_path_factory.mktemp("intake")
    token_file = base / "token"
    token_file.write_text(TOKEN + "\n")
    async with serve(base / "data", "--api-token-file", str(token_file)) as process:
        yield process


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(TOKEN) as client:
        yield client


def logs_db(server: ServerProcess) -> Path:
    return _data_dir(server) / "system_logs.db"


def _data_dir(server: ServerProcess) -> Path:
    return server.log.parent / "data"


def alert(message: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "TradeAlert",
        "alert_type": "risk",
        "severity": "warning",
        "message": message,
        **fields,
    }


async def test_log_events_are_committed_in_system_logs_when_answered(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    batch = [
        alert("drawdown 5%", symbol="EURUSD", ticket=7),
        {
            "type": "TradeMonitoring",
            "ticket": 7,
            "symbol": "EURUSD",
            "monitoring_type": "trailing_stop",
            "status": "moved",
            "details": "to 1.0950",
        },
        {"type": "SystemHealth", "component": "feed", "status": "degraded", "details": {"lag": 3}},
        {
            "type": "ApiLog",
            "method": "GET",
            "path": "/elsewhere",
            "status_code": 204,
            "duration_ms": 1.5,
        },
    ]
    response = await client.post(EVENTS, json=batch)
    assert response.status_code == 201, response.text
    ids = response.json()["event_ids"]
    assert len(ids) == 4
    assert len(set(ids)) == 4
    # 201 means committed: the rows are there now, no waiting.
    db = logs_db(server)
    assert rows(
        db, "SELECT message, symbol, ticket FROM trade_alerts WHERE event_id = ?", (ids[0],)
    ) == [("drawdown 5%", "EURUSD", 7)]
    assert rows(
        db, "SELECT monitoring_type, details FROM trade_monitoring WHERE event_id = ?", (ids[1],)
    ) == [("trailing_stop", "to 1.0950")]
    assert rows(
        db, "SELECT component, status, details FROM system_health WHERE event_id = ?", (ids[2],)
    ) == [("feed", "degraded", '{"lag":3}')]
    assert rows(
        db, "SELECT method, path, status_code FROM api_logs WHERE event_id = ?", (ids[3],)
    ) == [("GET", "/elsewhere", 204)]


async def test_one_event_is_answered_with_its_id(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await client.post(EVENTS, json=alert("single"))
    assert response.status_code == 201, response.text
    [event_id] = response.json()["event_ids"]
    stored = rows(
        logs_db(server), "SELECT message FROM trade_alerts WHERE event_id = ?", (event_id,)
    )
    assert stored == [("single",)]


async def test_an_invalid_event_is_422_naming_the_field_the_value_and_what_is_allowed(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await client.post(EVENTS, json=alert("bad severity", severity="loud"))
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "severity"
    assert body["value"] == "loud"
    assert "'info', 'warning', 'critical'" in body["allowed"]
    assert body["detail"] == body["error"]
    assert "TradeAlert.severity" in body["detail"]
    assert "loud" in body["detail"]
    assert "item" not in body

    response = await client.post(EVENTS, json={"type": "Candle", "symbol": "EURUSD"})
    assert response.status_code == 422
    assert response.json()["field"] == "type"
    assert response.json()["value"] == "Candle"
    assert "TradeAlert" in response.json()["allowed"]

    response = await client.post(EVENTS, json=alert("no such field", colour="red"))
    assert response.status_code == 422
    assert "colour" in response.json()["detail"]

    messages = rows(logs_db(server), "SELECT message FROM trade_alerts")
    assert ("bad severity",) not in messages
    assert ("no such field",) not in messages


async def test_an_invalid_event_in_a_list_is_named_by_its_position_and_nothing_is_stored(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    batch = [
        alert("list ok 0"),
        alert("list ok 1"),
        {"type": "Tick", "symbol": "EURUSD", "bid": -1, "ask": 1.1},
    ]
    response = await client.post(EVENTS, json=batch)
    assert response.status_code == 422
    body = response.json()
    assert body["item"] == 2
    assert body["field"] == "bid"
    assert body["value"] == -1
    assert body["detail"].startswith("event 2 of the list: invalid Tick.bid")
    assert rows(logs_db(server), "SELECT 1 FROM trade_alerts WHERE message LIKE 'list ok%'") == []


async def test_a_list_longer_than_max_batch_is_413_and_max_batch_is_taken(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await client.post(EVENTS, json=[alert(f"too many {i}") for i in range(101)])
    assert response.status_code == 413
    assert "101 events, over the limit of 100" in response.json()["detail"]
    assert rows(logs_db(server), "SELECT 1 FROM trade_alerts WHERE message LIKE 'too many%'") == []

    response = await client.post(EVENTS, json=[alert(f"a hundred {i}") for i in range(100)])
    assert response.status_code == 201, response.text
    assert len(response.json()["event_ids"]) == 100
    stored = rows(
        logs_db(server), "SELECT count(*) FROM trade_alerts WHERE message LIKE 'a hundred%'"
    )
    assert stored == [(100,)]


async def test_an_empty_list_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(EVENTS, json=[])
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


async def test_a_body_over_max_body_is_413_whether_announced_or_chunked(
    client: httpx.AsyncClient,
) -> None:
    big = b"[" + b" " * (1 << 20) + b"]"
    headers = {"Content-Type": "application/json"}
    response = await client.post(EVENTS, content=big, headers=headers)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith("the body is larger than the limit of 1,048,576 bytes (max_body)")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    response = await client.post(EVENTS, content=chunks(), headers=headers)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["detail"] == detail


async def test_a_body_that_is_not_json_is_415_or_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        EVENTS, content=b"message=hi", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]

    response = await client.post(
        EVENTS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the body is not valid JSON")

    deep = b"[" * 100_000 + b"]" * 100_000
    response = await client.post(EVENTS, content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "nested too deep" in response.json()["detail"]


async def test_without_the_token_intake_is_401_and_nothing_is_stored(
    server: ServerProcess,
) -> None:
    async with server.client() as anonymous:
        response = await anonymous.post(EVENTS, json=alert("anonymous"))
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    async with server.client("wrong") as wrong:
        response = await wrong.post(EVENTS, json=alert("wrong token"))
    assert response.status_code == 401
    messages = rows(logs_db(server), "SELECT message FROM trade_alerts")
    assert ("anonymous",) not in messages
    assert ("wrong token",) not in messages
    # Refused requests are logged too.
    await wait_rows(
        logs_db(server),
        "SELECT 1 FROM api_logs WHERE method = 'POST' AND path = ? AND status_code = 401",
        (EVENTS,),
        until=lambda found: len(found) >= 2,
    )


async def test_an_event_posted_twice_under_its_id_is_stored_once(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    event_id = new_event_id()
    event = alert("retried", event_id=event_id)
    first = await client.post(EVENTS, json=event)
    again = await client.post(EVENTS, json=event)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"event_ids": [event_id]}
    stored = rows(
        logs_db(server), "SELECT message, ts FROM trade_alerts WHERE event_id = ?", (event_id,)
    )
    assert len(stored) == 1
    assert stored[0][0] == "retried"


async def test_another_event_under_a_taken_id_is_409_and_the_stored_one_stays(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    event_id = new_event_id()
    assert (
        await client.post(EVENTS, json=alert("the first", event_id=event_id))
    ).status_code == 201
    response = await client.post(EVENTS, json=alert("another", event_id=event_id))
    assert response.status_code == 409
    body = response.json()
    assert body["field"] == "event_id"
    assert body["value"] == event_id
    assert "already stored in trade_alerts" in body["detail"]
    stored = rows(
        logs_db(server), "SELECT message FROM trade_alerts WHERE event_id = ?", (event_id,)
    )
    assert stored == [("the first",)]


async def test_a_list_the_writer_refuses_is_409_naming_the_event_and_nothing_is_stored(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    # Two events under one id, neither committed yet: the check before publishing
    # passes, and the writer refuses the group (it goes to dead_letters whole).
    event_id = new_event_id()
    batch = [
        alert("group ok"),
        alert("twin one", event_id=event_id),
        alert("twin two", event_id=event_id),
    ]
    response = await client.post(EVENTS, json=batch)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["item"] == 2
    assert body["detail"].startswith("event 2 of the list: not stored: ")
    assert "nothing of this request is stored" in body["detail"]
    db = logs_db(server)
    assert (
        rows(db, "SELECT 1 FROM trade_alerts WHERE message IN ('group ok', 'twin one', 'twin two')")
        == []
    )
    assert len(rows(db, "SELECT 1 FROM dead_letters WHERE topic = 'logs.alert.warning'")) >= 3


async def test_a_webhook_posts_an_alert_as_text_or_json_with_the_token_in_its_query(
    server: ServerProcess,
) -> None:
    db = logs_db(server)
    async with server.client() as webhook:
        response = await webhook.post(
            f"/api/v1/webhooks/alert?token={TOKEN}&symbol=EURUSD&severity=critical",
            content=b"EURUSD crossed 1.1000",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        assert response.status_code == 201, response.text
        [text_id] = response.json()["event_ids"]
        response = await webhook.post(
            f"/api/v1/webhooks/alert?token={TOKEN}",
            json={"ticker": "XAUUSD", "message": "gold long at 2401.5", "alert_type": "profit"},
        )
        assert response.status_code == 201, response.text
        [json_id] = response.json()["event_ids"]
        refused = await webhook.post("/api/v1/webhooks/alert?token=nope", content=b"hi")
        assert refused.status_code == 401
        invalid = await webhook.post(
            f"/api/v1/webhooks/alert?token={TOKEN}", json={"message": "x", "severity": "loud"}
        )
        assert invalid.status_code == 422
        assert invalid.json()["field"] == "severity"
    sql = "SELECT alert_type, severity, message, symbol FROM trade_alerts WHERE event_id = ?"
    assert rows(db, sql, (text_id,)) == [("system", "critical", "EURUSD crossed 1.1000", "EURUSD")]
    assert rows(db, sql, (json_id,)) == [("profit", "info", "gold long at 2401.5", "XAUUSD")]


async def test_the_same_event_posted_at_once_by_several_callers_is_stored_once(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    event_id = new_event_id()
    event = alert("raced", event_id=event_id)
    answers: list[httpx.Response] = []

    async def post() -> None:
        answers.append(await client.post(EVENTS, json=event))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(post)
    assert [answer.status_code for answer in answers] == [201] * 5
    assert all(answer.json() == {"event_ids": [event_id]} for answer in answers)
    stored = rows(
        logs_db(server), "SELECT message FROM trade_alerts WHERE event_id = ?", (event_id,)
    )
    assert stored == [("raced",)]


async def test_ts_may_be_an_iso_time(client: httpx.AsyncClient, server: ServerProcess) -> None:
    response = await client.post(EVENTS, json=alert("timed", ts="2026-11-30T23:59:00.25Z"))
    assert response.status_code == 201, response.text
    [event_id] = response.json()["event_ids"]
    stored = rows(logs_db(server), "SELECT ts FROM trade_alerts WHERE event_id = ?", (event_id,))
    assert stored == [(1_796_083_140_250_000_000,)]
    response = await client.post(EVENTS, json=alert("untimed", ts="yesterday"))
    assert response.status_code == 422
    assert response.json()["field"] == "ts"
    assert "ISO-8601" in response.json()["allowed"]


async def test_a_body_without_a_content_type_is_taken_as_json(
    client: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await client.post(
        EVENTS,
        content=json.dumps(alert("untyped")).encode(),
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 201, response.text
    [event_id] = response.json()["event_ids"]
    assert rows(
        logs_db(server), "SELECT message FROM trade_alerts WHERE event_id = ?", (event_id,)
    ) == [("untyped",)]
