"""JSON payloads of events (``indicators``, ``payload``, ``details``): plain JSON data
of bounded depth, count and string size, with finite numbers that fit in 64 bits."""

from __future__ import annotations

import math
from typing import Final

from ._exceptions import InvalidEvent
from ._types import MAX_INT64

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_NODES", "MAX_JSON_STRING", "check_json"]

MAX_JSON_DEPTH: Final = 32
MAX_JSON_NODES: Final = 100_000
MAX_JSON_STRING: Final = 1_000_000
_TOO_DEEP: Final = f"nested deeper than {MAX_JSON_DEPTH}"


def check_json(event_type: str, field: str, value: object) -> int:
    """A JSON-like payload: str keys, finite numbers, bounded depth and size.

    Return how many characters its keys and strings hold.
    """
    if type(value) is not dict:
        raise InvalidEvent(event_type, field, value, "expected an object (dict)")
    stack: list[tuple[object, int]] = [(value, 1)]
    nodes = 0
    text = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise InvalidEvent(event_type, field, value, f"more than {MAX_JSON_NODES} values")
        kind = type(item)
        if kind is dict:
            if depth > MAX_JSON_DEPTH:
                raise InvalidEvent(event_type, field, value, _TOO_DEEP)
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise InvalidEvent(event_type, field, key, "object keys must be str")
                text += len(key)
                stack.append((child, depth + 1))
        elif kind is list or kind is tuple:
            if depth > MAX_JSON_DEPTH:
                raise InvalidEvent(event_type, field, value, _TOO_DEEP)
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
        elif kind is float:
            if not math.isfinite(item):  # type: ignore[arg-type]
                raise InvalidEvent(event_type, field, item, "numbers must be finite")
        elif kind is int:
            if not -(2**63) <= item <= MAX_INT64:  # type: ignore[operator]
                raise InvalidEvent(event_type, field, item, "integers must fit in 64 bits")
        elif kind is str:
            size = len(item)  # type: ignore[arg-type]
            if size > MAX_JSON_STRING:
                raise InvalidEvent(
                    event_type,
                    field,
                    item,
                    f"strings must be at most {MAX_JSON_STRING:,} characters",
                )
            text += size
        elif item is not None and kind is not bool:
            raise InvalidEvent(event_type, field, item, f"{kind.__name__} is not JSON data")
    return text
