"""What validation knows of each event type's fields (computed once, from the
Structs): which hold floats, JSON payloads, Literal choices, an ``event_id``; and the
error naming the field of a value that msgspec refused."""

from __future__ import annotations

import re
from typing import Any, Final, Literal, get_args, get_origin, get_type_hints

import msgspec

from ._events import AnyEvent, Event
from ._exceptions import InvalidEvent

__all__ = [
    "BY_TAG",
    "CHOICES",
    "EVENT_TYPES",
    "FIELDS",
    "FLOAT_FIELDS",
    "HAS_EVENT_ID",
    "JSON_FIELDS",
    "from_validation_error",
]

EVENT_TYPES: Final[tuple[type[Event], ...]] = get_args(AnyEvent)
#: Every event type by its tag (its class name).
BY_TAG: Final[dict[str, type[Event]]] = {cls.__name__: cls for cls in EVENT_TYPES}
#: The fields of every event type, in their encoded order.
FIELDS: Final[dict[type[Event], tuple[str, ...]]] = {
    cls: cls.__struct_fields__ for cls in EVENT_TYPES
}


def _has_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(_has_float(arg) for arg in get_args(annotation))


def _is_json(annotation: Any) -> bool:
    return get_origin(annotation) is dict


def _choices(annotation: Any) -> str | None:
    """``'BUY', 'SELL'`` for a Literal field (``..., or None`` when optional)."""
    args = get_args(annotation) if get_origin(annotation) is not Literal else (annotation,)
    literals = [a for a in args if get_origin(a) is Literal]
    if not literals:
        return None
    text = ", ".join(repr(v) for v in get_args(literals[0]))
    return f"{text} or None" if type(None) in args else text


#: The fields of every event type that hold a float (or None).
FLOAT_FIELDS: Final[dict[type[Event], tuple[str, ...]]] = {}
#: The fields of every event type that hold a JSON payload.
JSON_FIELDS: Final[dict[type[Event], tuple[str, ...]]] = {}
#: The allowed values of every Literal (enum) field, for error messages.
CHOICES: Final[dict[type[Event], dict[str, str]]] = {}
for _cls in EVENT_TYPES:
    _hints = get_type_hints(_cls, include_extras=True)
    FLOAT_FIELDS[_cls] = tuple(f for f in FIELDS[_cls] if _has_float(_hints[f]))
    JSON_FIELDS[_cls] = tuple(f for f in FIELDS[_cls] if _is_json(_hints[f]))
    CHOICES[_cls] = {f: c for f in FIELDS[_cls] if (c := _choices(_hints[f])) is not None}
#: The event types that carry an ``event_id`` (of the format ``EVENT_ID_FORMAT``).
HAS_EVENT_ID: Final = frozenset(cls for cls in EVENT_TYPES if "event_id" in FIELDS[cls])


_AT_INDEX: Final = re.compile(r" - at `\$\[(\d+)\](.*)`$")


def from_validation_error(
    cls: type[Event], event: object, exc: msgspec.ValidationError
) -> InvalidEvent:
    """Turn msgspec's ``... - at `$[2]``` into an error naming the field and value."""
    text = str(exc)
    match = _AT_INDEX.search(text)
    reason = text if match is None else text[: match.start()]
    reason = reason[:1].lower() + reason[1:]
    if match is None:
        return InvalidEvent(cls.__name__, None, event, reason)
    index = int(match.group(1)) - 1  # element 0 is the tag
    fields = FIELDS[cls]
    if not 0 <= index < len(fields):
        return InvalidEvent(cls.__name__, None, event, reason)
    name = fields[index]
    if isinstance(event, list):  # raw decoded array: [tag, field, ...]
        value = event[index + 1] if index + 1 < len(event) else None
    else:
        value = getattr(event, name, None)
    choices = CHOICES[cls].get(name)
    if choices is not None:
        # msgspec says "invalid enum value 'buy'" or "expected `str`, got `int`".
        reason = f"must be one of {choices}"
    elif match.group(2):
        reason = f"{reason} at {match.group(2)}"
    return InvalidEvent(cls.__name__, name, value, reason)
