"""shared_memory.json: merged atomic writes by several processes, stale rules, damage."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest

from tradebus import ProcessStatus, StatusFile, TradebusError, read_status
from tradebus._status import MAX_ENDED, STATUS_FILENAME, this_host
from tradebus._status_file import StatusFileTooNew, update_status

_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from tradebus import ProcessStatus
    from tradebus._status_file import update_status

    data, tag, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    started = time.time_ns()
    while not os.path.exists(go):  # start together
        time.sleep(0.001)
    def entry(i, state):
        return ProcessStatus(
            id=tag, roles=(tag,), pid=os.getpid(), host="writers-host", started=started,
            heartbeat=time.time_ns(), state=state, interval=1.0, stale_after=60.0,
            events_written=i, rows_written=2 * i, queue_depth={}, relays={}, writers={},
            last_error=None,
        )
    for i in range(1, count + 1):
        update_status(data, entry(i, "running"), lock_timeout=60)
    update_status(data, entry(count, "stopped"), lock_timeout=60)
    """
)


def _entry(
    key: str,
    *,
    pid: int | None = None,
    host: str | None = None,
    heartbeat: int | None = None,
    state: str = "running",
    roles: tuple[str, ...] = (),
) -> ProcessStatus:
    return msgspec.convert(
        {
            "id": key,
            "roles": roles,
            "pid": os.getpid() if pid is None else pid,
            "host": this_host() if host is None else host,
            "started": time.time_ns(),
            "heartbeat": time.time_ns() if heartbeat is None else heartbeat,
            "state": state,
            "interval": 1.0,
            "stale_after": 5.0,
            "events_written": 0,
            "rows_written": 0,
            "queue_depth": {},
            "relays": {},
            "writers": {},
            "last_error": None,
        },
        ProcessStatus,
    )


def test_concurrent_writers_lose_no_entry_and_no_update_and_never_tear_the_file(
    tmp_path: Path,
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    go = tmp_path / "go"
    writers, count = 6, 150
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), f"w{n}", str(count), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    go.touch()
    path = tmp_path / STATUS_FILENAME
    reads = 0
    try:
        # A reader takes no lock: every version it sees must be a whole, valid file.
        while any(p.poll() is None for p in procs):
            if path.exists():
                msgspec.json.decode(path.read_bytes(), type=StatusFile)
                reads += 1
        for p in procs:
            _, errors = p.communicate(timeout=60)
            assert p.returncode == 0, errors
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert reads > 0
    final = msgspec.json.decode(path.read_bytes(), type=StatusFile)
    # Each writer's last update is there: none was overwritten by a stale merge.
    assert {key: (p.events_written, p.state) for key, p in final.processes.items()} == {
        f"w{n}": (count, "stopped") for n in range(writers)
    }
    assert not list(tmp_path.glob(".shared_memory.json.*"))  # no temporary file left


def test_a_process_killed_with_sigkill_is_marked_dead_and_kept(tmp_path: Path) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        update_status(tmp_path, _entry("victim", pid=victim.pid, roles=("desktop_agent",)))
        assert read_status(tmp_path).processes["victim"].state == "running"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    status = read_status(tmp_path)
    assert status.processes["victim"].state == "dead"
    assert status.processes["victim"].dead_reason == f"process {victim.pid} is gone"
    # The next writer persists the mark: the entry stays, as dead.
    update_status(tmp_path, _entry("survivor"))
    raw = msgspec.json.decode((tmp_path / STATUS_FILENAME).read_bytes(), type=StatusFile)
    assert raw.processes["victim"].state == "dead"
    assert raw.processes["victim"].roles == ("desktop_agent",)
    assert raw.processes["survivor"].state == "running"


def test_a_silent_process_is_marked_dead_after_its_stale_time(tmp_path: Path) -> None:
    now = time.time_ns()
    update_status(tmp_path, _entry("other-host-fresh", host="elsewhere", pid=1))
    update_status(
        tmp_path, _entry("other-host-silent", host="elsewhere", pid=1, heartbeat=now - 6 * 10**9)
    )
    # Alive pid, but silent: a frozen process, or a pid reused by another program.
    update_status(tmp_path, _entry("frozen", heartbeat=now - 60 * 10**9))
    status = read_status(tmp_path)
    states = {key: p.state for key, p in status.processes.items()}
    assert states == {"other-host-fresh": "running", "other-host-silent": "dead", "frozen": "dead"}
    reason = status.processes["other-host-silent"].dead_reason
    assert reason is not None
    assert reason.startswith("no heartbeat for 6.")
    assert reason.endswith("(more than 5s)")


def test_ended_entries_are_bounded_dropping_the_oldest_first(tmp_path: Path) -> None:
    base = time.time_ns() - 10**12
    extra = 5
    for n in range(MAX_ENDED + extra):
        update_status(tmp_path, _entry(f"old{n:02d}", heartbeat=base + n, state="stopped"))
    update_status(tmp_path, _entry("live"))
    keys = set(read_status(tmp_path).processes)
    assert keys == {"live"} | {f"old{n:02d}" for n in range(extra, MAX_ENDED + extra)}


def test_a_torn_file_is_logged_set_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / STATUS_FILENAME
    update_status(tmp_path, _entry("kept", host="elsewhere", pid=1))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # torn
    with caplog.at_level(logging.WARNING, logger="tradebus"):
        assert read_status(tmp_path).processes == {}
    assert "partly unreadable (not JSON" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tradebus"):
        written = update_status(tmp_path, _entry("writer"))
    assert "was unreadable" in caplog.text
    assert set(written.processes) == {"writer"}
    assert (tmp_path / "shared_memory.json.unreadable").read_bytes() == whole[: len(whole) // 2]
    assert set(read_status(tmp_path).processes) == {"writer"}


def test_a_file_with_one_bad_entry_keeps_the_good_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / STATUS_FILENAME
    update_status(tmp_path, _entry("good", host="elsewhere", pid=1))
    raw = msgspec.json.decode(path.read_bytes())
    raw["processes"]["bad"] = {"id": "bad", "pid": "not a number"}
    path.write_bytes(msgspec.json.encode(raw))
    with caplog.at_level(logging.WARNING, logger="tradebus"):
        status = read_status(tmp_path)
    assert set(status.processes) == {"good"}
    assert "entry 'bad'" in caplog.text
    written = update_status(tmp_path, _entry("writer"))
    assert set(written.processes) == {"good", "writer"}


def test_a_file_of_a_newer_version_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / STATUS_FILENAME
    newer = b'{"version": 2, "updated": 1, "processes": {"x": {"something": "else"}}}'
    path.write_bytes(newer)
    with pytest.raises(StatusFileTooNew, match="schema version 2, newer than this tradebus"):
        read_status(tmp_path)
    with pytest.raises(StatusFileTooNew, match="left unchanged"):
        update_status(tmp_path, _entry("writer"))
    assert path.read_bytes() == newer


def test_a_missing_file_reads_as_no_process(tmp_path: Path) -> None:
    assert read_status(tmp_path) == StatusFile()
    assert read_status(tmp_path / "missing") == StatusFile()


def test_a_fifo_a_link_or_deep_json_at_the_status_file_is_set_aside_never_followed(
    tmp_path: Path,
) -> None:
    path = tmp_path / STATUS_FILENAME
    entry = _entry("me", roles=("api_server",))
    os.mkfifo(path)  # reading it would block forever
    update_status(tmp_path, entry)
    assert read_status(tmp_path).processes.keys() == {entry.id}
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)  # valid JSON, too deep to decode
    update_status(tmp_path, entry)
    assert read_status(tmp_path).processes.keys() == {entry.id}
    elsewhere = tmp_path / "elsewhere"
    lock = tmp_path / (STATUS_FILENAME + ".lock")
    lock.unlink()
    lock.symlink_to(elsewhere)  # a link must not make tradebus create or write that file
    with pytest.raises(TradebusError, match="symbolic link"):
        update_status(tmp_path, entry)
    assert not elsewhere.exists()
