from __future__ import annotations

import sys
from pathlib import Path

import anyio

from tradebus import open_node, read_status
from tradebus.api import ApiOptions, ApiServer

from ._server import serve


async def test_serve_answers_with_its_openapi_document_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path / "data") as server, server.client() as client:
        response = await client.get("/api/v1/openapi.json")
        assert response.status_code == 200
        assert response.json()["info"]["title"] == "tradebus"
        assert "/api/v1/ticks" in response.json()["paths"]
        # An unknown path of the API is the API's JSON 404, not a page.
        missing = await client.get("/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/json")
        assert missing.json()["status_code"] == 404
    assert (tmp_path / "data" / "system_logs.db").exists()


async def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    async with (
        open_node(tmp_path / "a", roles=()) as node,
        ApiServer(node, ApiOptions(port=0)) as first,
    ):
        command = [sys.executable, "-m", "tradebus", "serve", "--port", str(first.port)]
        result = await anyio.run_process([*command, "--data-dir", str(tmp_path / "b")], check=False)
    assert result.returncode == 2, result.stderr
    said = f"cannot listen on 127.0.0.1:{first.port}: the port is in use"
    assert said in result.stderr.decode()
    assert not (tmp_path / "b" / "system_logs.db").exists()


async def test_an_unreadable_token_file_is_refused_before_anything_starts(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tradebus", "serve", "--port", "0"]
    missing = tmp_path / "no-such-token"
    result = await anyio.run_process(
        [*command, "--data-dir", str(tmp_path / "d"), "--api-token-file", str(missing)],
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot read the token file '{missing}'" in result.stderr.decode()
    assert not (tmp_path / "d" / "system_logs.db").exists()


async def test_the_demo_serves_the_api_over_its_data_while_it_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [sys.executable, "-m", "tradebus", "demo", "--data-dir", str(data)]
    result = await anyio.run_process(
        [*command, "--seconds", "2", "--seed", "1", "--http", "127.0.0.1:0"], check=False
    )
    assert result.returncode == 0, result.stderr
    assert "the API listens on http://127.0.0.1:" in result.stdout.decode()


async def test_the_status_file_says_where_the_api_is_while_it_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    status = [sys.executable, "-m", "tradebus", "status", "--data-dir", str(data)]
    async with serve(data) as server:
        with anyio.fail_after(30):
            while True:
                entries = read_status(data).live()
                if any(p.http == server.url for p in entries):
                    break
                await anyio.sleep(0.05)
        shown = await anyio.run_process(status, check=False)
        assert f"HTTP API: {server.url} (api_server, pid " in shown.stdout.decode()
    (stopped,) = [p for p in read_status(data).processes.values() if "api_server" in p.roles]
    assert stopped.state == "stopped"
    assert stopped.http is None


async def test_a_server_cancelled_while_it_starts_leaves_its_node_to_close_cleanly(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path / "a", roles=["api_server"]) as node:
        for delay in (0, 0.001, 0.01):
            with anyio.move_on_after(delay) as scope:
                async with ApiServer(node, ApiOptions(port=0)):
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
        # The node still serves: it stores, and its API starts again.
        await node.integration("api_server").log_system_health(
            component="api", status="ok", details={}
        )
        async with ApiServer(node, ApiOptions(port=0)) as server:
            assert server.port > 0


async def test_processes_from_a_status_file_of_a_newer_tradebus_is_a_503_saying_so(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with serve(data) as server, server.client() as client:
        (data / "shared_memory.json").write_text('{"version": 99, "processes": {}}')
        response = await client.get("/api/v1/processes")
        assert response.status_code == 503
        assert "written by a newer tradebus" in response.json()["detail"]
        (data / "shared_memory.json").unlink()
        (data / "shared_memory.json").mkdir()  # cannot be read at all
        response = await client.get("/api/v1/processes")
        assert response.status_code == 503
        assert "cannot be read now" in response.json()["detail"]
        assert str(data) not in response.text
