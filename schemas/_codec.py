"""msgpack encoding and decoding of events, single and in batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec

from ._events import AnyEvent
from ._exceptions import InvalidEvent
from ._fields import BY_TAG, from_validation_error
from ._rules import semantic_check
from ._validate import MAX_EVENT_BYTES

__all__ = ["decode", "decode_many", "encode", "pack_array"]

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(AnyEvent)
_list_decoder: Final = msgspec.msgpack.Decoder(list[AnyEvent])

encode: Final = _encoder.encode
"""Encode an event to msgpack bytes (an array ``[tag, field, ...]``)."""


def pack_array(items: Sequence[bytes]) -> bytes:
    """Join encoded items behind a msgpack array header: one buffer decodes them all."""
    n = len(items)
    if n < 16:
        header = bytes((0x90 | n,))
    elif n < 65_536:
        header = b"\xdc" + n.to_bytes(2, "big")
    else:
        header = b"\xdd" + n.to_bytes(4, "big")
    return header + b"".join(items)


def decode(data: bytes | bytearray | memoryview) -> AnyEvent:
    """Decode and validate one encoded event from untrusted bytes.

    :raises InvalidEvent: on malformed msgpack, an unknown tag, or an invalid value.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidEvent("event", None, data, "expected bytes")
    if len(data) > MAX_EVENT_BYTES:
        raise InvalidEvent(
            "event",
            None,
            bytes(data[:32]),
            f"its encoded size, {len(data):,} bytes, is over the limit of "
            f"{MAX_EVENT_BYTES:,} bytes per event",
        )
    try:
        event: AnyEvent = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid_from(data, exc) from None
    except Exception as exc:  # DecodeError, and UnicodeDecodeError, RecursionError, ...
        raise InvalidEvent("event", None, bytes(data[:32]), f"malformed msgpack ({exc})") from None
    semantic_check(event)
    return event


def decode_many(items: Iterable[bytes]) -> list[AnyEvent]:
    """Decode many encoded events in one call (several times faster than one each).

    :raises InvalidEvent: if any of them is malformed or invalid.
    """
    items = list(items)
    try:
        if any(len(item) > MAX_EVENT_BYTES for item in items):
            raise ValueError("an item is over the size limit")  # decode() names it
        events: list[AnyEvent] = _list_decoder.decode(pack_array(items))
    except Exception:  # ValidationError, DecodeError, UnicodeDecodeError, RecursionError, ...
        return [decode(item) for item in items]  # find and name the bad one
    for event in events:
        semantic_check(event)
    return events


def _invalid_from(
    data: bytes | bytearray | memoryview, exc: msgspec.ValidationError
) -> InvalidEvent:
    try:
        raw: Any = msgspec.msgpack.decode(data)
    except Exception:
        return InvalidEvent("event", None, bytes(data[:32]), f"malformed msgpack ({exc})")
    cls = None
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        cls = BY_TAG.get(raw[0])
    if cls is None:
        tag = raw[0] if isinstance(raw, list) and raw else raw
        return InvalidEvent("event", "type", tag, f"expected one of {sorted(BY_TAG)}")
    return from_validation_error(cls, raw, exc)
