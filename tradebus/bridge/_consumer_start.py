"""Where a consumer starts: the cursors committed in SQLite (the truth), and the
durable consumer made again to deliver from there."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from writers import PostgresWriter, WriterActor, open_reader

from ._consume_names import consumer_origin
from ._errors import BridgeError

__all__ = ["Cursors", "read_cursors", "recreate_consumer"]

_CURSORS = (
    "SELECT source, cursor FROM relay_cursors WHERE source = ? OR (source >= ? AND source < ?)"
)


class Cursors:
    """The committed stream cursor, and each forwarder lane's high-water mark."""

    def __init__(self, stream: int, lanes: dict[str, int]) -> None:
        self.stream = stream
        self.lanes = lanes


async def read_cursors(
    writer: WriterActor | PostgresWriter, path: Path, stream: str, durable: str
) -> Cursors:
    """(Read-only.) What the database committed for ``stream``'s consumer ``durable``:
    from its SQLite file at ``path``, or from PostgreSQL for a ``PostgresWriter``."""
    base = consumer_origin(stream, durable)
    cursor, lanes = 0, {}
    if isinstance(writer, PostgresWriter):
        rows: Iterable[Any] = (await writer.pg.cursors_of(base)).items()
    else:
        if not await anyio.Path(path).exists():
            return Cursors(0, {})
        async with open_reader(path) as conn:
            rows = await conn.execute_fetchall(_CURSORS, (base, base + "@", base + "A"))
    for source, value in rows:
        if source == base:
            cursor = int(value)
        else:
            lanes[str(source)[len(base) + 1 :]] = int(value)
    return Cursors(cursor, lanes)


async def recreate_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    after: int,
    *,
    ack_wait: float,
    max_ack_pending: int,
    hint: bool,
) -> int:
    """Make ``durable`` on ``stream`` anew, delivering from the message after ``after``
    (or after the old consumer's acknowledgement floor, if ``hint`` and it is further:
    the bridge acknowledges only what is committed). Returns the last sequence before
    where it starts.

    :raises BridgeError: if the stream's last sequence is below ``after`` (the stream
        was made again: its numbers are not the ones committed).
    """
    try:
        info = await js.stream_info(stream)
    except (nats.errors.Error, OSError) as exc:
        raise BridgeError(f"cannot look up stream {stream}: {exc!r}") from exc
    last = info.state.last_seq
    if last < after:
        raise BridgeError(
            f"stream {stream} ends at sequence {last}, but {after} is committed for consumer "
            f"{durable!r}: the stream was made anew; consume it with another durable name"
        )
    floor = 0
    try:
        old = await js.consumer_info(stream, durable)
        if old.ack_floor is not None and hint:
            floor = old.ack_floor.stream_seq
        await js.delete_consumer(stream, durable)
    except nats.js.errors.NotFoundError:
        pass
    except (nats.errors.Error, OSError) as exc:
        raise BridgeError(
            f"cannot replace consumer {durable!r} of stream {stream}: {exc!r}"
        ) from exc
    start_after = max(after, floor if floor <= last else 0)
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start_after + 1,
        ack_policy=AckPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
    )
    try:
        await js.add_consumer(stream, config)
    except (nats.errors.Error, OSError) as exc:
        raise BridgeError(f"cannot make consumer {durable!r} on stream {stream}: {exc}") from exc
    return start_after
