"""Summarize a py-spy profile of the tradebus scenario by where the time goes.

Record the scenario with py-spy (``pip install py-spy``), in raw (collapsed) format,
once with every thread's samples and once with only the thread holding the GIL::

    py-spy record --threads --idle --format raw -o all.txt -- \\
        python -m bench --scenarios tradebus --ticks 200000 --repeat 3 --no-plot
    py-spy record --threads --gil --format raw -o gil.txt -- python -m bench ...
    python -m bench.spy all.txt gil.txt

Each sample is put in one bucket: the publish path (``publish_nowait`` and the
``admit`` validation), the writer's planning (decoding a batch into statements), the
SQLite thread running statements (binding, stepping, committing), the SQLite thread
idle, the event loop blocked in ``select`` (its thread waiting for the SQLite one),
and the rest. With ``--gil``, a bucket's share is its share of the GIL.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

__all__ = ["OTHER_THREADS", "SETUP", "bucket", "main", "summarize"]

SETUP = "(setup: not measured)"
OTHER_THREADS = "(other threads: the progress display)"
_UNMEASURED = (SETUP, OTHER_THREADS)
_SETUP = ("make_ticks", "tick_rows", "importlib", "ceiling_once", "create_database")


def bucket(stack: str) -> str:
    """The bucket of one collapsed py-spy stack (``thread;frame;frame``)."""
    frames = stack.split(";")
    thread, leaf = frames[0], frames[-1]
    if any(name in stack for name in _SETUP) and "publish_nowait" not in stack:
        return SETUP
    if "MainThread" not in thread and "_connection_worker_thread" not in thread:
        return OTHER_THREADS
    if "_connection_worker_thread" in thread:
        if "get (queue" in stack or "core.py:59)" in leaf:
            return "sqlite thread: idle"
        if "call_soon_threadsafe" in stack:
            return "sqlite thread: waking the event loop"
        return "sqlite thread: running statements"
    if "publish_nowait" in stack:
        tail = stack.split("publish_nowait", 1)[1]
        if "admit" in tail:
            return "publish: admit (validation, topic)"
        if "encode" in tail:
            return "publish: encode"
        return "publish: routing, buffer append"
    if "publish_all" in stack and "select" not in leaf:
        return "publish: producer loop"
    if "_tick_statements" in stack:
        return "writer: tick statements (params)"
    if "_plan" in stack:
        return "writer: plan (decode batch)"
    if "EpollSelector.select" in stack or "select (selectors" in stack:
        return "event loop: blocked in select"
    if any(name in stack for name in ("WriterActor", "Subscription", "aiosqlite")):
        return "writer: other (receive, ack, await)"
    return "event loop and other"


def summarize(path: Path) -> list[tuple[str, int, float]]:
    """(bucket, samples, share) for the raw py-spy file at ``path``, largest first.

    Shares are of the samples of the event loop's thread and the SQLite thread
    outside the setup (building the ticks, the ceiling runs).
    """
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rstrip().rpartition(" ")
        if stack and samples.isdigit():
            counts[bucket(stack)] += int(samples)
    measured = sum(n for name, n in counts.items() if name not in _UNMEASURED)
    return [
        (name, n, n / measured if measured and name not in _UNMEASURED else 0.0)
        for name, n in counts.most_common()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spy", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="py-spy --format raw output")
    args = parser.parse_args(argv)
    for path in args.files:
        print(f"{path}:")
        for name, samples, share in summarize(path):
            print(f"  {share:6.1%} {samples:7d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
