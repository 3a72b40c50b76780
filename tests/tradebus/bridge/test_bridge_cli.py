"""``tradebus bridge forward|consume``: processes that run until SIGTERM and drain."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from bench._child import project_env
from tests.tradebus.bridge._helpers import MAIN, stored_tick_numbers, tick, unique_prefix
from tests.writers._helpers import wait_until
from tradebus import open_node
from tradebus.bridge import JetStreamForwarder

pytestmark = pytest.mark.timeout(60)


def _stored(path: Path) -> list[int]:
    """The ticks stored, or none while the process is still making its database."""
    try:
        return stored_tick_numbers(path)
    except sqlite3.OperationalError:
        return []


def _tradebus(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradebus", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=project_env(),
    )  # fmt: skip


async def test_forward_and_consume_processes_carry_events_and_stop_cleanly_on_sigterm(
    tmp_path: Path, nats_url: str
) -> None:
    prefix = unique_prefix(tmp_path)
    common = ["--nats", nats_url, "--prefix", prefix]
    consume = _tradebus("bridge", "consume", "--data-dir", str(tmp_path / "b"), *common)
    try:
        # A node of its own publishes; its forwarder is the library's (the CLI's
        # forwarder hosts roles whose buses carry what other processes relay).
        async with (
            open_node(tmp_path / "a", roles=["chatgpt_bot"], candles=None, monitor=None) as a,
            JetStreamForwarder(a, nats_url, prefix=prefix, topics=["market.tick.>"]),
        ):
            for n in range(1, 201):
                await a.bus.publish(tick(n))
            await a.bus.flush()
        with anyio.fail_after(30):
            await wait_until(lambda: len(_stored(tmp_path / "b" / MAIN)) >= 200)
        consume.send_signal(signal.SIGTERM)
        output, _ = consume.communicate(timeout=30)
    finally:
        if consume.poll() is None:
            consume.kill()
            consume.wait()
    assert consume.returncode == 0, output
    assert "bridge consume: stopped" in output
    assert stored_tick_numbers(tmp_path / "b" / MAIN) == list(range(1, 201))


async def test_a_bad_option_is_refused_naming_it(tmp_path: Path, nats_url: str) -> None:
    process = _tradebus(
        "bridge", "forward", "--data-dir", str(tmp_path), "--nats", nats_url,
        "--role", "chatgpt_bot", "--lanes", "0",
    )  # fmt: skip
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2, output
    assert "lanes=0" in output
    assert "an int from 1 to 1024" in output


def test_an_address_that_is_not_nats_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process = _tradebus(
        "bridge", "consume", "--data-dir", str(data), "--nats", "notaurl",
    )  # fmt: skip
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2, output
    assert "url='notaurl'" in output
    assert "nats://host:4222" in output
    assert not data.exists()  # no node was started, no database made
