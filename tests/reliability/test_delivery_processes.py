"""Delivery between real processes: three role processes and a role-less one on one
data directory, each SIGKILLed at random moments and started again; afterwards every
acknowledged event is in its owner's database exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from ._helpers import DATABASE_FILES, integrity, read_only, script

ROLES = ("chatgpt_bot", "desktop_agent", "api_server", "none")
MAIN, LOGS = "unified_tick_pipeline.db", "system_logs.db"


def _spawn(data: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    """A worker process; what it says goes to ``<name>.err`` in ``data``."""
    with open(data / f"{name}.err", "wb") as err:
        return subprocess.Popen(
            [*script("delivery_worker.py"), str(data), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _start(data: Path, role: str, run: int) -> subprocess.Popen[bytes]:
    log = data / f"acks-{role}-{run}.log"
    return _spawn(data, f"worker-{role}-{run}", role, str(log), str(run))


def _acknowledged(data: Path) -> tuple[set[tuple[str, int]], set[str]]:
    ticks: set[tuple[str, int]] = set()
    alerts: set[str] = set()
    for log in data.glob("acks-*.log"):
        for line in log.read_text().splitlines():
            kind, *rest = line.split(" ")
            if kind == "T":
                ticks.add((rest[0], int(rest[1])))
            else:
                alerts.add(rest[0])
    return ticks, alerts


def _enough(data: Path) -> bool:
    """Whether the workers acknowledged enough ticks and alerts, from each sender."""
    ticks, alerts = _acknowledged(data)
    senders = {symbol for symbol, _ in ticks}
    return len(ticks) > 100 and len(alerts) > 10 and len(senders) >= 3


async def _drain(data: Path) -> None:
    """Every role's process (and the role-less one) up at once, until each has seen
    its outbox delivered and trimmed."""
    drains = {role: _spawn(data, f"drain-{role}", role, "--drain", "240") for role in ROLES}
    for role, process in drains.items():
        status = await anyio.to_thread.run_sync(process.wait)
        assert status == 0, f"{role}: {(data / f'drain-{role}.err').read_text()[-3000:]}"


@pytest.mark.parametrize(
    ("seed", "owner_down"),
    [(1, False), (2, False), (3, True)],
    ids=["kills", "kills2", "owner-down"],
)
async def test_every_acknowledged_event_is_stored_once_through_kills_of_every_process(
    tmp_path: Path, seed: int, owner_down: bool
) -> None:
    # With owner_down, the bot (the owner of the ticks everyone sends) is down the
    # whole time the others publish and are killed; it starts only for the drain.
    rng = random.Random(seed)
    run = 1
    roles = ROLES[1:] if owner_down else ROLES
    processes = {role: _start(tmp_path, role, run) for role in roles}
    try:
        for _ in range(8):
            await anyio.sleep(rng.uniform(0.4, 1.2))
            role = rng.choice(roles)
            processes[role].send_signal(signal.SIGKILL)
            processes[role].wait()
            run += 1
            processes[role] = _start(tmp_path, role, run)
        # On a busy machine a process may spend the loop starting up: let them run
        # until enough was acknowledged for the check below to mean something.
        with anyio.fail_after(240):
            while not _enough(tmp_path):  # noqa: ASYNC110 - other processes' files
                await anyio.sleep(0.1)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGKILL)
            process.wait()
    await _drain(tmp_path)

    ticks, alerts = _acknowledged(tmp_path)
    assert len(ticks) > 100  # the loop really ran
    assert len(alerts) > 10
    with read_only(tmp_path / MAIN) as conn:
        in_order = conn.execute("SELECT symbol, ts FROM unified_ticks ORDER BY seq").fetchall()
    stored_ticks = Counter(in_order)
    for symbol in {symbol for symbol, _ in in_order}:  # in order per source
        sent = [ts for s, ts in in_order if s == symbol]
        assert sent == sorted(sent), symbol
    with read_only(tmp_path / LOGS) as conn:
        stored_alerts = Counter(m for (m,) in conn.execute("SELECT message FROM trade_alerts"))
    assert ticks <= set(stored_ticks)  # every acknowledged tick is there
    assert alerts <= set(stored_alerts)
    assert max(stored_ticks.values()) == 1  # and nothing (acknowledged or not) twice
    assert max(stored_alerts.values()) == 1
    for name in DATABASE_FILES:
        assert integrity(tmp_path / name) == "ok"
        with read_only(tmp_path / name) as conn:
            assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
