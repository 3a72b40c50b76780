"""The API's load generator (``python -m bench._api_load JSON``): keep-alive HTTP/1.1
connections to a ``tradebus serve`` on loopback, each asking its next request as soon
as the last one is answered (a closed loop).

Two kinds of connections: ``reads`` ask for the latest ticks of a symbol
(``GET /api/v1/ticks?symbol=S&limit=100``, the symbols in turn), ``intake`` posts one
monitoring or alert event (``POST /api/v1/events``). The requests are encoded once;
the responses are parsed just enough to find their status and length, so that the
generator costs the machine little next to the server it loads.

Protocol on the pipes (as the other workers): connect and send one request per
connection (unmeasured), print ``"ready"``, wait for a line on stdin (go), measure
until a second line (stop), ``max_requests`` requests or ``max_seconds``, whichever
comes first, then print the result as one JSON line.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["intake_body", "main"]


def intake_body(n: int) -> bytes:
    """The JSON body of the ``n``-th intake request: one monitoring or alert event."""
    if n % 2:
        event: dict[str, Any] = {
            "type": "TradeAlert",
            "alert_type": "system",
            "severity": "info",
            "message": f"bench alert {n}",
        }
    else:
        event = {
            "type": "TradeMonitoring",
            "ticket": 1_000_000 + n,
            "symbol": "EURUSD",
            "monitoring_type": "trailing_stop",
            "status": "moved",
            "details": f"bench {n}",
        }
    return json.dumps(event).encode()


def _head(method: str, target: str, host: str, token: str | None, body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _requests(kind: str, params: dict[str, Any]) -> Iterator[bytes]:
    """The endless requests of one connection of ``kind``."""
    host, token = f"{params['host']}:{params['port']}", params.get("token")
    if kind == "reads":
        symbols = params["symbols"]
        encoded = [
            _head("GET", f"/api/v1/ticks?symbol={s}&limit=100", host, token, b"") for s in symbols
        ]
        return itertools.cycle(encoded)
    return (_head("POST", "/api/v1/events", host, token, intake_body(n)) for n in itertools.count())


async def _response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read one response: its status and its body's length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")
    await reader.readexactly(length)
    return status, length


class _Load:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.max_requests = int(params["max_requests"])
        self.deadline = 0.0
        self.measuring = False
        self.stopped = asyncio.Event()
        self.sent = 0
        self.latencies: dict[str, list[float]] = {"reads": [], "intake": []}
        self.statuses: dict[str, collections.Counter[int]] = {
            "reads": collections.Counter(),
            "intake": collections.Counter(),
        }
        self.body_bytes: dict[str, int] = {"reads": 0, "intake": 0}

    async def connect(self, kind: str) -> Callable[[], Any]:
        """Open one connection, warm it up with one request; return its loop."""
        reader, writer = await asyncio.open_connection(self.params["host"], self.params["port"])
        requests = _requests(kind, self.params)
        writer.write(next(requests))
        status, _ = await _response(reader)
        if not 200 <= status < 300:
            raise RuntimeError(
                f"the server answered {status} to the first {kind} request: does it have "
                "the endpoint (and no token for it)?"
            )

        async def run() -> None:
            latencies, statuses = self.latencies[kind], self.statuses[kind]
            try:
                while not self.stopped.is_set():
                    if self.sent >= self.max_requests or time.perf_counter() > self.deadline:
                        self.stopped.set()
                        break
                    self.sent += 1
                    started = time.perf_counter()
                    writer.write(next(requests))
                    status, length = await _response(reader)
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1
                    self.body_bytes[kind] += length
            finally:
                writer.close()

        return run

    async def main(self) -> dict[str, Any]:
        params = self.params
        loops = [await self.connect("reads") for _ in range(int(params["read_connections"]))]
        loops += [await self.connect("intake") for _ in range(int(params["intake_connections"]))]
        _emit("ready")
        await asyncio.to_thread(sys.stdin.readline)  # go
        started = time.perf_counter()
        self.deadline = started + float(params["max_seconds"])
        tasks = [asyncio.create_task(run()) for run in loops]
        stop = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
        waiter = asyncio.create_task(self.stopped.wait())
        await asyncio.wait([stop, waiter], return_when=asyncio.FIRST_COMPLETED)
        self.stopped.set()
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        bounded = waiter.done() and not stop.done()
        if not stop.done():
            await stop  # the caller always sends stop
        return {
            "seconds": seconds,
            "stopped_by_bound": bounded,
            "latencies_s": self.latencies,
            "statuses": {k: {str(s): n for s, n in v.items()} for k, v in self.statuses.items()},
            "body_bytes": self.body_bytes,
        }


def _emit(payload: object) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    params = json.loads(sys.argv[1])
    _emit(asyncio.run(_Load(params).main()))


if __name__ == "__main__":
    main()
