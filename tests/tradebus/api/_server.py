"""A real API server for the tests: ``tradebus serve`` in a subprocess on a free
loopback port, and the address it took."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
from anyio.abc import Process

__all__ = ["ServerProcess", "serve"]

_LISTENING = re.compile(rb"the API listens on (http://\S+)")


class ServerProcess:
    """A running ``tradebus serve``: its ``url``, its process, what it wrote."""

    def __init__(self, process: Process, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def serve(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    command: Sequence[str] = ("serve", "--port", "0"),
) -> AsyncIterator[ServerProcess]:
    """Start ``tradebus serve --data-dir data_dir --port 0 *args``; yield once it
    listens; stop it with SIGTERM (and check it exits 0) on leaving."""
    log = data_dir.parent / f"{data_dir.name}-server.log"
    with log.open("wb") as out:
        process = await anyio.open_process(
            [sys.executable, "-m", "tradebus", *command, "--data-dir", str(data_dir), *args],
            stdout=out,
            stderr=out,
            env={**os.environ, **(env or {})},
        )
    try:
        url = None
        with anyio.fail_after(60):
            while url is None:
                found = _LISTENING.search(log.read_bytes())
                if found:
                    url = found.group(1).decode()
                elif process.returncode is not None:
                    raise AssertionError(
                        f"the server exited {process.returncode}:\n{log.read_text()}"
                    )
                else:
                    await anyio.sleep(0.05)
        yield ServerProcess(process, url, log)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with anyio.fail_after(60):
            await process.wait()
    assert process.returncode == 0, log.read_text()
