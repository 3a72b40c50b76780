"""The bridge's processes and the nats-server killed (SIGKILL) at random moments while
ticks and executions flow: every acknowledged event is stored once on the far side."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest

from bench._child import project_env
from tests.tradebus.bridge._helpers import (
    MAIN,
    private_nats,
    stored_executions,
    stored_tick_numbers,
)
from tests.writers._helpers import wait_until
from tradebus.bridge import stream_name

pytestmark = pytest.mark.timeout(120)
WORKER = "tests.tradebus.bridge.bridge_worker"


def _spawn(params: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", WORKER, json.dumps(params)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=project_env(),
        )  # fmt: skip


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def _progress(log: Path) -> tuple[int, int, set[int]]:
    """(the last number tried, the last acknowledged, every number acknowledged)."""
    tried = acked_last = 0
    acked: set[int] = set()
    first = 1
    if not log.exists():
        return 0, 0, acked
    for line in log.read_text().splitlines():
        word, _, number = line.partition(" ")
        if not number.isdigit():
            continue  # a line cut by the kill
        if word == "trying":
            first, tried = tried + 1, int(number)
        elif word == "acked":
            acked.update(range(first, int(number) + 1))
            acked_last = int(number)
    return tried, acked_last, acked


async def _caught_up(url: str, stream: str) -> bool:
    """Whether the consumer has acknowledged (so committed) the whole stream."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream)
        consumer = await js.consumer_info(stream, "tradebus")
        return (
            consumer.ack_floor is not None and consumer.ack_floor.stream_seq >= info.state.last_seq
        )
    except Exception:
        return False
    finally:
        await client.close()


async def test_kills_of_forwarder_consumer_and_server_lose_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    server = private_nats(tmp_path / "nats")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    prefix = "kills"
    log, errors = tmp_path / "forward.log", tmp_path / "stderr.log"
    common = {"url": server.url, "prefix": prefix}
    forward = {**common, "mode": "forward", "data": str(tmp_path / "a"), "log": str(log)}
    consume = {**common, "mode": "consume", "data": str(tmp_path / "b")}
    forwarder = _spawn({**forward, "start": 1}, errors)
    consumer = _spawn(consume, errors)
    kills: list[str] = []
    try:
        for _ in range(10):
            before = _progress(log)[1]
            with anyio.fail_after(40):  # events flow between kills
                await wait_until(lambda: _progress(log)[1] >= before + 2 * 40)  # noqa: B023
            await anyio.sleep(rng.uniform(0.0, 0.5))  # a random moment, not a wait
            victim = rng.choice(["forwarder", "consumer", "server"])
            kills.append(victim)
            if victim == "forwarder":
                _kill(forwarder)
                forwarder = _spawn({**forward, "start": _progress(log)[0] + 1}, errors)
            elif victim == "consumer":
                _kill(consumer)
                consumer = _spawn(consume, errors)
            else:
                server.kill()
                await anyio.sleep(rng.uniform(0.0, 1.0))  # down for a while
                server.start()
        _kill(forwarder)
        stream = stream_name("main", prefix)
        with anyio.fail_after(60):
            while not await _caught_up(server.url, stream):
                assert consumer.poll() is None, errors.read_text()[-3000:]
                await anyio.sleep(0.05)
    finally:
        _kill(forwarder)
        _kill(consumer)
        server.stop()
    tried, _, acked = _progress(log)
    ticks = stored_tick_numbers(tmp_path / "b" / MAIN)
    executions = stored_executions(tmp_path / "b" / MAIN)
    what = f"seed {seed}, kills {kills}"
    assert len(ticks) == len(set(ticks)), f"ticks stored twice ({what})"
    assert len(executions) == len(set(executions)), f"executions stored twice ({what})"
    assert acked <= set(ticks), (
        f"acknowledged ticks lost: {sorted(acked - set(ticks))[:20]} ({what})"
    )
    acked_executions = {n for n in acked if n % 10 == 0}
    assert acked_executions <= set(executions), f"acknowledged executions lost ({what})"
    assert set(ticks) <= set(range(1, tried + 1))
    assert len(acked) >= 10 * 80
