"""The API server stopping (SIGTERM) while clients post events: every request is
answered with its outcome (201 stored, or 503: retry) or refused before it is taken
(the connection), and every event acknowledged is stored."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import httpx

from schemas import new_event_id

from ._rows import rows
from ._server import ServerProcess, serve

_CLIENTS = 6


async def _post_until_refused(server: ServerProcess, answers: list[tuple[str, int]]) -> None:
    async with server.client() as client:
        while True:
            event_id = new_event_id()
            alert = {
                "type": "TradeAlert", "event_id": event_id, "alert_type": "system",
                "severity": "info", "message": f"shutdown probe {event_id}",
            }  # fmt: skip
            try:
                response = await client.post("/api/v1/events", json=alert)
            except httpx.TransportError:
                return  # refused, or cut before an answer: the client cannot know
            answers.append((event_id, response.status_code))
            if response.status_code == 503:
                assert "retry" in response.json()["detail"]
                return


async def test_a_server_stopping_under_intake_answers_every_request_it_took(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    answers: list[tuple[str, int]] = []
    async with serve(data) as server, anyio.create_task_group() as tg:
        for _ in range(_CLIENTS):
            tg.start_soon(_post_until_refused, server, answers)
        with anyio.fail_after(60):
            while sum(status == 201 for _, status in answers) < 200:  # noqa: ASYNC110 - answers
                await anyio.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)  # with requests in flight
    statuses = {status for _, status in answers}
    assert statuses <= {201, 503}, answers
    stored = {
        event_id
        for (event_id,) in rows(
            data / "system_logs.db",
            "SELECT event_id FROM trade_alerts WHERE message LIKE 'shutdown probe %'",
        )
    }
    acknowledged = {event_id for event_id, status in answers if status == 201}
    assert acknowledged <= stored
    assert "Traceback" not in server.output(), server.output()
