"""Connecting to NATS, and making sure a database's stream exists."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from ._errors import BridgeError

__all__ = ["connect", "ensure_stream"]

logger = logging.getLogger("tradebus")


async def connect(url: str, *, timeout: float, name: str) -> Client:  # noqa: ASYNC109
    """A connection to ``url`` that reconnects for ever once made; the first attempt
    is retried for up to ``timeout`` seconds.

    :raises BridgeError: if no connection could be made in that time.
    """
    pause = 0.1
    last: Exception | None = None
    with anyio.move_on_after(timeout):
        while True:
            try:
                return await nats.connect(
                    url,
                    name=name,
                    connect_timeout=min(2.0, max(timeout, 0.1)),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.25,
                    verbose=False,
                )
            except (OSError, nats.errors.Error, TimeoutError) as exc:
                last = exc
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)
    raise BridgeError(
        f"cannot connect to NATS at {url} within {timeout:g} s ({last}): start the server "
        "or check the address"
    ) from last


async def ensure_stream(
    js: JetStreamContext, name: str, subjects: Sequence[str], duplicate_window: float
) -> None:
    """Create stream ``name`` for ``subjects`` if it is missing; add the subjects it
    lacks if it exists.

    :raises BridgeError: if JetStream refuses (subjects another stream holds, ...).
    """
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        info = None
    except (nats.errors.Error, OSError) as exc:
        raise BridgeError(f"cannot look up stream {name}: {exc!r}") from exc
    try:
        if info is None:
            await js.add_stream(
                StreamConfig(
                    name=name,
                    subjects=list(subjects),
                    storage=StorageType.FILE,
                    duplicate_window=duplicate_window,
                )
            )
            logger.info("bridge: created stream %s for %s", name, ", ".join(subjects))
            return
        config = info.config
        have = list(config.subjects or [])
        missing = [s for s in subjects if s not in have]
        if missing:
            await js.update_stream(config.evolve(subjects=have + missing))
    except (nats.errors.Error, OSError) as exc:
        raise BridgeError(
            f"JetStream refused stream {name} for subjects {list(subjects)}: {exc}; another "
            "stream may hold them (give the bridge a subject prefix of its own)"
        ) from exc
