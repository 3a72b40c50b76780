"""StatusReporter: a node's heartbeat into shared_memory.json."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from schemas import Tick
from tests.writers._helpers import wait_until
from tradebus import ProcessStatus, StatusReporter, open_node, read_status
from tradebus._status import STATUS_FILENAME, this_host


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(20):
        await wait_until(condition)


def _entry(data: Path, key: str) -> ProcessStatus | None:
    return read_status(data).processes.get(key)


async def test_a_node_shows_its_roles_pid_and_events_written(tmp_path: Path) -> None:
    ticks = 100
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"], status_file=False) as node,
        StatusReporter(node, interval=0.05) as reporter,
    ):
        first = _entry(tmp_path, reporter.id)  # written on enter
        assert first is not None
        assert first.state == "running"
        assert (first.roles, first.pid, first.host) == (("chatgpt_bot",), os.getpid(), this_host())
        assert reporter.id == f"{this_host()}:{os.getpid()}:{first.started}"
        for n in range(ticks):
            node.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=100.0 + n, ask=100.5 + n))
        await node.bus.flush()

        def counted() -> bool:
            entry = _entry(tmp_path, reporter.id)
            return entry is not None and entry.events_written == ticks

        await _until(counted)
        beat = _entry(tmp_path, reporter.id)
        assert beat is not None
        assert beat.heartbeat > first.heartbeat
        assert beat.rows_written >= ticks
        assert set(beat.writers) == {"main"}
        assert beat.writers["main"].state == "ok"
        assert beat.writers["main"].events == ticks
        assert beat.last_error is None
    last = _entry(tmp_path, reporter.id)
    assert last is not None
    assert last.state == "stopped"
    assert last.events_written == ticks
    assert last.queue_depth == {"main": 0}


async def test_the_error_that_ends_the_block_is_the_last_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the app failed"):
        async with (
            open_node(tmp_path, roles=["api_server"], status_file=False) as node,
            StatusReporter(node) as rep,
        ):
            raise ValueError("the app failed")
    entry = _entry(tmp_path, rep.id)
    assert entry is not None
    assert (entry.state, entry.last_error) == ("stopped", "ValueError: the app failed")


async def test_stopping_is_written_at_once(tmp_path: Path) -> None:
    async with (
        open_node(tmp_path, roles=["api_server"], status_file=False) as node,
        StatusReporter(node, interval=3600) as reporter,
    ):
        reporter.stopping()

        def stopping() -> bool:
            entry = _entry(tmp_path, reporter.id)
            return entry is not None and entry.state == "stopping"

        await _until(stopping)


async def test_a_lock_held_elsewhere_skips_beats_and_never_stops_the_node(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = await anyio.open_process(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            str(tmp_path / f"{STATUS_FILENAME}.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        with anyio.fail_after(30):
            line = await BufferedByteReceiveStream(holder.stdout).receive_until(b"\n", 64)
        assert line == b"locked"
        with caplog.at_level(logging.WARNING, logger="tradebus"):
            async with (
                open_node(tmp_path, roles=["api_server"], status_file=False) as node,
                StatusReporter(node, interval=0.02, lock_timeout=0.05) as reporter,
            ):
                api = node.integration("api_server")
                for _ in range(5):  # the node works while its beats are skipped
                    await api.log_trade_alert(alert_type="system", severity="info", message="x")
                assert reporter.writes == 0
                assert not (tmp_path / STATUS_FILENAME).exists()
                assert holder.stdin is not None
                await holder.stdin.aclose()  # the holder exits: the lock is free

                def written() -> bool:  # (a beat taken while held may show fewer)
                    entry = _entry(tmp_path, reporter.id)
                    return entry is not None and entry.events_written == 5

                await _until(written)
    finally:
        if holder.returncode is None:
            holder.kill()
        with anyio.CancelScope(shield=True):
            await holder.wait()
            await holder.aclose()
    warnings = [r.getMessage() for r in caplog.records if "cannot update" in r.getMessage()]
    assert len(warnings) == 1  # said once, not at every skipped beat
    assert "cannot lock" in warnings[0]
    assert "tries again at its next heartbeat" in warnings[0]


async def test_a_newer_status_file_is_left_alone_and_the_node_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / STATUS_FILENAME
    newer = b'{"version": 99, "processes": {}}'
    path.write_bytes(newer)
    with caplog.at_level(logging.WARNING, logger="tradebus"):
        async with (
            open_node(tmp_path, roles=["api_server"], status_file=False) as node,
            StatusReporter(node, interval=0.02) as reporter,
        ):
            await node.integration("api_server").log_trade_alert(
                alert_type="system", severity="info", message="still logging"
            )
    assert reporter.writes == 0
    assert path.read_bytes() == newer
    assert "schema version 99, newer than this tradebus" in caplog.text


@pytest.mark.parametrize("interval", [0, -1.0, float("nan"), float("inf"), True])
async def test_a_bad_interval_is_refused(tmp_path: Path, interval: float) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        with pytest.raises(ValueError, match="interval must be a number of seconds > 0, got"):
            StatusReporter(node, interval=interval)


async def test_a_node_hosting_no_role_has_an_entry_too(tmp_path: Path) -> None:
    async with (
        open_node(tmp_path, roles=(), status_file=False) as node,
        StatusReporter(node) as reporter,
    ):
        entry = _entry(tmp_path, reporter.id)
        assert entry is not None
        assert (entry.roles, set(entry.writers), entry.state) == ((), {"outbox"}, "running")
    entry = _entry(tmp_path, reporter.id)
    assert entry is not None
    assert entry.state == "stopped"


async def test_a_relay_shows_what_it_delivered_and_its_lag(tmp_path: Path) -> None:
    async with (
        open_node(tmp_path, roles=["chatgpt_bot"], status_file=False) as bot,
        StatusReporter(bot, interval=0.05) as reporter,
        open_node(tmp_path, roles=["api_server"]) as api,
    ):
        for n in range(3):  # the bot owns ticks: they go through the api's outbox
            api.bus.publish_nowait(Tick(symbol="BTCUSDT", bid=100.0 + n, ask=100.5 + n))
        await api.bus.flush()
        await api.delivered(timeout=20)

        def delivered() -> bool:
            entry = _entry(tmp_path, reporter.id)
            relay = entry.relays.get("system_logs.db -> main") if entry else None
            return relay is not None and (relay.delivered, relay.pending) == (3, 0)

        await _until(delivered)
        entry = _entry(tmp_path, reporter.id)
        assert entry is not None
        relay = entry.relays["system_logs.db -> main"]
        assert (relay.source, relay.database, relay.lag_seconds) == ("system_logs.db", "main", 0.0)
        assert relay.cursor >= 1  # a position per row, and ticks may share a row


async def test_every_node_keeps_its_entry_unless_told_not_to(tmp_path: Path) -> None:
    async with open_node(tmp_path, roles=["api_server"]) as node:
        assert node.status is not None
        entry = _entry(tmp_path, node.status.id)
        assert entry is not None
        assert (entry.roles, entry.pid, entry.state) == (("api_server",), os.getpid(), "running")
        await node.integration("api_server").log_trade_alert(
            alert_type="system", severity="info", message="counted"
        )
    entry = _entry(tmp_path, node.status.id)
    assert entry is not None
    assert (entry.state, entry.events_written) == ("stopped", 1)  # the final counts
    other = tmp_path / "other"
    async with open_node(other, roles=["api_server"], status_file=False) as node:
        assert node.status is None
    assert not (other / "shared_memory.json").exists()
