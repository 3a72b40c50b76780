"""The worker processes of the multi-process scenarios (``python -m bench._worker JSON``).

Protocol on the pipes: the worker prepares, prints ``ready``, waits for a line on
stdin (go), runs, and prints its result as one JSON line. The reader runs until a
second stdin line (stop) arrives.

Roles: ``shared`` writes one kind of event (ticks, trades or logs) into the shared
file with plain sqlite3, one commit per row; ``own`` publishes the same events
through an EventBus into its own WriterActor and file; ``reader`` asks for the
latest ticks of each symbol in a loop through a read-only connection.
"""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

import schemas
from eventbus import BusFull, EventBus
from schemas import ApiLog, Event, Tick, TradeRecommendation
from writers import ANALYSIS, LOGS, MAIN, DatabaseSpec, WriterActor, reader_uri

from ._results import percentile
from ._sqlite import LATEST_TICKS, TICK_INSERT
from ._ticks import START_TS, api_log, make_ticks, recommendation, symbol_names, tick_row

__all__ = ["main"]

#: The database each kind of event belongs to when every process has its own file.
SPEC_OF_KIND: dict[str, DatabaseSpec] = {"ticks": MAIN, "trades": ANALYSIS, "logs": LOGS}

_CHUNK = 500  # events between yields to the event loop (own) or clock checks (shared)


def _emit(payload: object) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _wait_for_line() -> None:
    sys.stdin.readline()


def _events(kind: str, params: dict[str, Any]) -> Iterator[Event]:
    """The endless stream of events a process of ``kind`` writes (seeded).

    Ticks are built here, before the clock starts, and cycled; trade recommendations
    and API logs are built as they are written (each carries a new event_id).
    """
    seed = int(params["seed"])
    if kind == "ticks":
        return itertools.cycle(make_ticks(int(params["ticks"]), int(params["symbols"]), seed))
    return _generated(kind, seed, symbol_names(int(params["symbols"])))


def _generated(kind: str, seed: int, names: list[str]) -> Iterator[Event]:
    rng = random.Random(seed + (1 if kind == "trades" else 2))
    ts = START_TS
    while True:
        ts += rng.randrange(100_000, 2_000_000)
        if kind == "trades":
            price = 100.0 * rng.random() + 1
            yield recommendation(rng, names[rng.randrange(len(names))], price, ts)
        else:
            yield api_log(rng, ts)


def _statements(kind: str) -> Callable[[Event, int], list[tuple[str, tuple[Any, ...]]]]:
    """How one event of ``kind`` becomes SQL, row at a time: the writers' own statements."""
    if kind == "ticks":

        def tick_rows(event: Event, seq: int) -> list[tuple[str, tuple[Any, ...]]]:
            assert isinstance(event, Tick)
            return [(TICK_INSERT, tick_row(event, seq))]

        return tick_rows
    spec = SPEC_OF_KIND[kind]
    handler = spec.handlers[TradeRecommendation if kind == "trades" else ApiLog]

    def handled(event: Event, seq: int) -> list[tuple[str, tuple[Any, ...]]]:
        return [(sql, tuple(row)) for _table, sql, rows in handler([event]) for row in rows]

    return handled


def run_shared(params: dict[str, Any]) -> dict[str, Any]:
    """Per-row commits into the shared file, counting ``database is locked``."""
    kind = str(params["kind"])
    events = _events(kind, params)
    to_sql = _statements(kind)
    conn = sqlite3.connect(
        params["path"], timeout=float(params["busy_timeout"]), isolation_level=None
    )
    conn.execute("PRAGMA synchronous=NORMAL")
    committed = locked = other = 0
    last_error = ""
    attempts_ms: list[float] = []  # how long each row's transaction took, failed or not
    clock = time.perf_counter
    _emit("ready")
    _wait_for_line()
    started = clock()
    deadline = started + float(params["seconds"])
    seq = 0
    while clock() < deadline:
        seq += 1
        statements = to_sql(next(events), seq)
        began = clock()
        try:
            conn.execute("BEGIN")
            for sql, row in statements:
                conn.execute(sql, row)
            conn.execute("COMMIT")
            committed += 1
        except sqlite3.OperationalError as exc:
            last_error = str(exc)
            if "locked" in last_error or "busy" in last_error:
                locked += 1
            else:
                other += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        attempts_ms.append((clock() - began) * 1000)
    elapsed = clock() - started
    conn.close()
    attempts_ms.sort()
    return {
        "kind": kind,
        "committed": committed,
        "lock_errors": locked,
        "other_errors": other,
        "last_error": last_error,
        "seconds": elapsed,
        "row_p50_ms": percentile(attempts_ms, 50),
        "row_p99_ms": percentile(attempts_ms, 99),
        "row_max_ms": attempts_ms[-1] if attempts_ms else 0.0,
    }


async def run_own(params: dict[str, Any]) -> dict[str, Any]:
    """The same events through this process's own bus and writer, into its own file."""
    kind = str(params["kind"])
    events = _events(kind, params)
    async with (
        EventBus(admit=schemas.admit) as bus,
        WriterActor(
            bus,
            SPEC_OF_KIND[kind],
            params["path"],
            role=f"bench-{kind}",
            max_batch=int(params["max_batch"]),
            max_delay=float(params["max_delay"]),
        ) as writer,
    ):
        publish = bus.publish_nowait
        _emit("ready")
        await anyio.to_thread.run_sync(_wait_for_line)
        started = time.perf_counter()
        deadline = started + float(params["seconds"])
        published = 0
        while time.perf_counter() < deadline:
            for _ in range(_CHUNK):
                event = next(events)
                try:
                    publish(event)
                except BusFull:
                    await bus.publish(event)
            published += _CHUNK
            await checkpoint()
        await bus.flush()
        elapsed = time.perf_counter() - started
        statistics = writer.statistics()
    return {
        "kind": kind,
        "published": published,
        "committed": statistics.events,
        # A writer retries what would have been "database is locked" (and any other
        # transient fault): every retry counts as a lock error here.
        "lock_errors": statistics.retries,
        "other_errors": statistics.dead_letters,
        "last_error": statistics.last_error or "",
        "seconds": elapsed,
        "mean_batch": statistics.mean_batch,
    }


def run_reader(params: dict[str, Any]) -> dict[str, Any]:
    """Ask for the latest ticks of each symbol over and over, read-only, until stopped.

    ``rate`` paces it (queries/s); 0 asks as fast as it can.
    """
    uri = reader_uri(params["path"])
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA query_only=1")
    names = symbol_names(int(params["symbols"]))
    rate = int(params.get("rate", 0))
    stop = threading.Event()
    _emit("ready")
    _wait_for_line()

    def wait_for_stop() -> None:
        _wait_for_line()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    queries = errors = rows = 0
    last_error = ""
    started, cpu_started = time.perf_counter(), time.process_time()
    while not stop.is_set():
        for symbol in names:
            try:
                rows += len(conn.execute(LATEST_TICKS, (symbol,)).fetchall())
                queries += 1
            except sqlite3.Error as exc:
                errors += 1
                last_error = str(exc)
        if rate:  # paced by attempts: a reader whose queries fail must not spin
            ahead = started + (queries + errors) / rate - time.perf_counter()
            if ahead > 0:
                stop.wait(ahead)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    conn.close()
    return {
        "queries": queries,
        "rate": rate,
        "cpu_seconds": cpu,
        "rows": rows,
        "errors": errors,
        "last_error": last_error,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the worker described by the JSON argument; print its result as JSON."""
    args = sys.argv[1:] if argv is None else argv
    params: dict[str, Any] = json.loads(args[0])
    role = params["role"]
    if role == "shared":
        result = run_shared(params)
    elif role == "own":
        result = anyio.run(run_own, params, backend="asyncio")
    elif role == "reader":
        result = run_reader(params)
    elif role.startswith(("cross-", "idle")):
        from ._cross_worker import run_cross

        result = run_cross(params)
    elif role == "overload":
        from ._overload import run_overload

        run_overload(params)  # prints its own result and exits
        return 0
    else:
        raise SystemExit(f"unknown worker role {role!r}")
    _emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
