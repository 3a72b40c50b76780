"""``GET /metrics``: Prometheus's text format, with figures that follow from what
was written, which processes run and which requests were made."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tradebus import open_node

from ._server import ServerProcess, serve

TOKEN = "metrics-test-token"
BOT = (sys.executable, "-m", "tradebus", "run", "--role", "chatgpt_bot")
Families = dict[str, tuple[str, list[Sample]]]


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """One server for the module, whose reads (and /metrics) need the token."""
    root = tmp_path_factory.mktemp("metrics")
    token_file = root / "token"
    token_file.write_text(TOKEN + "\n")
    args = ("--api-token-file", str(token_file), "--api-auth-reads")
    async with serve(root / "data", *args) as running:
        yield running


@pytest.fixture
def data_dir(server: ServerProcess) -> Path:
    return server.log.parent / "data"


async def scrape(client: httpx.AsyncClient) -> Families:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        family.name: (family.type, list(family.samples))
        for family in text_string_to_metric_families(response.text)
    }


def samples(families: Families, sample: str, **labels: str) -> list[Sample]:
    """The samples named ``sample`` whose labels include ``labels``."""
    family = sample
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        family = family.removesuffix(suffix)
    return [
        s
        for s in families.get(family, ("", []))[1]
        if s.name == sample and labels.items() <= s.labels.items()
    ]


def value(families: Families, sample: str, **labels: str) -> float:
    """The one sample named ``sample`` whose labels include ``labels``."""
    found = samples(families, sample, **labels)
    assert len(found) == 1, f"{sample} {labels}: {found}"
    return found[0].value


async def scrape_until(
    client: httpx.AsyncClient, done: Callable[[Families], bool], what: str
) -> Families:
    """Scrape until ``done`` holds (a deadline of 60 s says ``what`` never came)."""
    try:
        with anyio.fail_after(60):
            while True:
                families = await scrape(client)
                if done(families):
                    return families
                await anyio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never seen in /metrics: {what}") from None


async def test_metrics_needs_the_token_when_reads_do(server: ServerProcess) -> None:
    async with server.client() as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("this endpoint needs the API's bearer token")


async def test_the_families_have_prometheus_names_types_and_labels(
    server: ServerProcess,
) -> None:
    async with server.client(TOKEN) as client:
        families = await scrape(client)
    expected = {
        "tradebus_writer_events": "counter",
        "tradebus_writer_rows": "counter",
        "tradebus_writer_retries": "counter",
        "tradebus_writer_dead_letters": "counter",
        "tradebus_writer_queue_depth_events": "gauge",
        "tradebus_writer_commit_duration_seconds": "histogram",
        "tradebus_writer_batch_size_events": "histogram",
        "tradebus_relay_lag_events": "gauge",
        "tradebus_relay_lag_seconds": "gauge",
        "tradebus_relay_delivered_events": "counter",
        "tradebus_process_up": "gauge",
        "tradebus_process_state": "gauge",
        "tradebus_process_heartbeat_age_seconds": "gauge",
        "tradebus_process_writer_events": "counter",
        "tradebus_process_writer_queue_depth_events": "gauge",
        "tradebus_http_requests": "counter",
        "tradebus_http_request_duration_seconds": "histogram",
        "tradebus_status_file_readable": "gauge",
        "tradebus_api_request_log_lines": "counter",
    }
    assert {name: families[name][0] for name in expected} == expected
    # The api_server hosts the logs database: its writer, with every table's rows.
    assert {s.labels["database"] for s in samples(families, "tradebus_writer_events_total")} == {
        "logs"
    }
    tables = {s.labels["table"] for s in samples(families, "tradebus_writer_rows_total")}
    assert {"trade_monitoring", "trade_alerts", "api_logs", "system_health"} <= tables
    buckets = samples(families, "tradebus_writer_commit_duration_seconds_bucket", database="logs")
    assert [s.labels["le"] for s in buckets][-1] == "+Inf"
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    assert buckets[-1].value == value(
        families, "tradebus_writer_commit_duration_seconds_count", database="logs"
    )
    # This process is in the status file, running, with its role.
    up = samples(families, "tradebus_process_up", role="api_server")
    assert [s.value for s in up] == [1.0]
    process = up[0].labels["process"]
    assert value(families, "tradebus_process_state", process=process, state="running") == 1
    assert value(families, "tradebus_process_state", process=process, state="dead") == 0
    assert value(families, "tradebus_process_heartbeat_age_seconds", process=process) >= 0
    assert value(families, "tradebus_status_file_readable") == 1


async def test_events_delivered_to_the_api_servers_writer_raise_its_counters(
    server: ServerProcess, data_dir: Path
) -> None:
    async with server.client(TOKEN) as client:
        before = await scrape(client)
        rows_before = value(
            before, "tradebus_writer_rows_total", database="logs", table="trade_monitoring"
        )
        alerts_before = value(
            before, "tradebus_writer_rows_total", database="logs", table="trade_alerts"
        )
        events_before = value(before, "tradebus_writer_events_total", database="logs")
        # A client process (hosting no role): its events reach the server's writer
        # through its outbox and the server's relay.
        async with open_node(data_dir, roles=()) as client_node:
            api = client_node.integration("api_server")
            for n in range(7):
                await api.log_trade_monitoring(
                    ticket=100 + n, symbol="EURUSD", monitoring_type="trailing_stop", status="ok"
                )
            for _ in range(3):
                await api.log_trade_alert(
                    alert_type="system", severity="warning", message="metrics test"
                )
            await client_node.delivered(timeout=30)

        def counted(families: Families) -> bool:
            return (
                value(families, "tradebus_writer_rows_total", database="logs", table="trade_alerts")
                >= alerts_before + 3
            )

        after = await scrape_until(client, counted, "the client's 3 alerts")
    assert (
        value(after, "tradebus_writer_rows_total", database="logs", table="trade_monitoring")
        == rows_before + 7
    )
    assert (
        value(after, "tradebus_writer_rows_total", database="logs", table="trade_alerts")
        == alerts_before + 3
    )
    events = value(after, "tradebus_writer_events_total", database="logs")
    assert events >= events_before + 10  # the server's own health beats write too
    # Every committed event is in one batch; every batch in one commit.
    assert value(after, "tradebus_writer_batch_size_events_sum", database="logs") == events
    assert value(after, "tradebus_writer_batch_size_events_count", database="logs") == value(
        after, "tradebus_writer_commit_duration_seconds_count", database="logs"
    )
    # The server's relay of the client's outbox delivered the 10 events.
    relays = [
        s
        for s in samples(after, "tradebus_relay_delivered_events_total", database="logs")
        if s.labels["source"].startswith("outboxes/client-")
    ]
    assert sum(s.value for s in relays) >= 10
    assert {s.labels["role"] for s in relays} == {"api_server"}
    # The client process came and went: the status file says it stopped.
    clients = samples(after, "tradebus_process_state", role="client", state="stopped")
    assert 1.0 in [s.value for s in clients]


async def test_a_bot_process_shows_with_its_heartbeat_relays_and_writer(
    server: ServerProcess, data_dir: Path
) -> None:
    log = data_dir.parent / "bot.log"
    with log.open("wb") as out:
        bot = await anyio.open_process(
            [*BOT, "--data-dir", str(data_dir)],
            stdout=out,
            stderr=out,
        )
    try:
        async with server.client(TOKEN) as client:

            def bot_relays_seen(families: Families) -> bool:
                up = samples(families, "tradebus_process_up", role="chatgpt_bot")
                if [s.value for s in up] != [1.0]:
                    return False
                process = up[0].labels["process"]
                return bool(samples(families, "tradebus_relay_lag_events", process=process))

            families = await scrape_until(client, bot_relays_seen, "the bot's relays")
            (up,) = samples(families, "tradebus_process_up", role="chatgpt_bot")
            process = up.labels["process"]
            assert process.split(":")[1] == str(bot.pid)
            age = value(families, "tradebus_process_heartbeat_age_seconds", process=process)
            assert age >= 0
            # The bot's relays: the other roles' files into its database (main).
            lags = samples(families, "tradebus_relay_lag_events", process=process)
            sources = {s.labels["source"] for s in lags}
            assert {"analysis_data.db", "system_logs.db"} <= sources
            assert {s.labels["database"] for s in lags} == {"main"}
            assert all(s.labels["role"] == "chatgpt_bot" for s in lags)
            for s in lags:
                seconds = value(
                    families, "tradebus_relay_lag_seconds", process=process, relay=s.labels["relay"]
                )
                assert s.value >= 0
                assert seconds >= 0
            # Its writer, known through the status file.
            pending = samples(
                families, "tradebus_process_writer_queue_depth_events", process=process
            )
            assert [s.labels["database"] for s in pending] == ["main"]

            bot.send_signal(signal.SIGTERM)
            with anyio.fail_after(60):
                await bot.wait()

            def bot_stopped(families: Families) -> bool:
                stopped = samples(
                    families, "tradebus_process_state", process=process, state="stopped"
                )
                return [s.value for s in stopped] == [1.0]

            families = await scrape_until(client, bot_stopped, "the bot stopped")
            assert value(families, "tradebus_process_up", process=process) == 0
            # A stopped process's relays are no longer reported.
            assert not samples(families, "tradebus_relay_lag_events", process=process)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0, log.read_text()


async def test_http_requests_are_counted_by_method_route_and_status(
    server: ServerProcess,
) -> None:
    async with server.client(TOKEN) as client, server.client() as anonymous:
        before = await scrape(client)

        def count(families: Families, path: str, status: str) -> float:
            found = samples(
                families, "tradebus_http_requests_total", method="GET", path=path, status=status
            )
            return found[0].value if found else 0.0

        for _ in range(3):
            assert (await client.get("/api/v1/openapi.json")).status_code == 200
        for _ in range(2):
            assert (await anonymous.get("/metrics")).status_code == 401
        assert (await client.get("/api/v1/positions/987654")).status_code == 404
        after = await scrape(client)
    assert (
        count(after, "/api/v1/openapi.json", "200")
        == count(before, "/api/v1/openapi.json", "200") + 3
    )
    assert count(after, "/metrics", "401") == count(before, "/metrics", "401") + 2
    # The route's template, never the raw path: the series stay bounded.
    template = "/api/v1/positions/{ticket}"
    assert count(after, template, "404") == count(before, template, "404") + 1
    paths = {s.labels["path"] for s in samples(after, "tradebus_http_requests_total")}
    assert not any("987654" in path for path in paths)
    # Each request but the scrapes became a line of the request log.
    logged = "tradebus_api_request_log_lines_total"
    assert value(after, logged, outcome="logged") == value(before, logged, outcome="logged") + 4
    assert value(after, logged, outcome="dropped") == 0
    # The scrape before this one counts; this one is still being answered.
    assert count(after, "/metrics", "200") == count(before, "/metrics", "200") + 1
    durations = value(
        after,
        "tradebus_http_request_duration_seconds_count",
        method="GET",
        path="/api/v1/openapi.json",
        status="200",
    )
    assert durations == count(after, "/api/v1/openapi.json", "200")
    assert value(after, "tradebus_http_requests_in_progress") == 1


async def test_a_status_file_from_a_newer_tradebus_leaves_the_processes_out(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with serve(data) as server, server.client() as client:
        (data / "shared_memory.json").write_text('{"version": 99, "processes": {}}')
        families = await scrape(client)
        families = await scrape(client)  # said once in the log, however often asked
    assert value(families, "tradebus_status_file_readable") == 0
    assert not samples(families, "tradebus_process_up")
    assert value(families, "tradebus_writer_events_total", database="logs") >= 0
    said = "/metrics: the status file"
    assert server.output().count(said) == 1
    assert "schema version 99, newer than this tradebus reads" in server.output()
