"""How several events travel in one NATS message (a batch).

A lane of the forwarder puts events without an ``event_id`` (ticks, candles, tick
imports) of one subject that wait in it (in their order) into one message:
its payload is a msgpack array of ``bin`` items, each an event's own msgpack bytes
(what a single-event message carries), in bus order; its header ``Tradebus-Batch``
says how many. A message without that header carries one event, as before. A batch
is one message of its lane: one ``Tradebus-Seq``, one ``Nats-Msg-Id``
(``<origin>:<seq>``), stored or skipped as a whole.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "BATCH_OVERHEAD",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "BadBatch",
    "pack_batch",
    "unpack_batch",
]

#: The most events a forwarder puts in one message.
MAX_BATCH_EVENTS: Final = 1000
#: The most bytes of events a forwarder puts in one message (well below the
#: server's default max_payload of 1 MiB; half of it if the server's is smaller).
MAX_BATCH_BYTES: Final = 512 * 1024
#: What framing one item costs at most (a msgpack ``bin 32`` header).
BATCH_OVERHEAD: Final = 5

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[bytes])


class BadBatch(ValueError):
    """A batched message's payload or count is not what the bridge makes."""


def pack_batch(items: list[bytes]) -> bytes:
    """The payload of a batch: a msgpack array of the events' bytes."""
    return _encoder.encode(items)


def unpack_batch(payload: bytes, count: str) -> list[bytes]:
    """The events' bytes of a batch whose ``Tradebus-Batch`` header is ``count``."""
    if not count.isdigit() or int(count) < 1:
        raise BadBatch(f"its Tradebus-Batch header is {count!r}, not a count of events (1 or more)")
    try:
        items = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise BadBatch(f"its payload is not a msgpack array of byte strings ({exc})") from None
    if len(items) != int(count):
        raise BadBatch(f"it holds {len(items)} event(s), its Tradebus-Batch header says {count}")
    return items
