"""Validation of events: types, ranges, finiteness, symbols, event ids and cross-field
rules; and building events from keyword arguments or mappings.

msgspec does not check types in ``__init__``, so an event built in code is checked
by :func:`validate` (the bus calls it on every publish). Ticks take a fast path of
a few comparisons; symbols are matched against the pattern once and remembered.
Every other event is checked by round-tripping it through its typed decoder, which
applies the ``Meta`` constraints in C, followed by the rules msgspec cannot express.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec

from ._events import Event, Tick
from ._exceptions import InvalidEvent
from ._fields import BY_TAG, EVENT_TYPES, FIELDS, FLOAT_FIELDS, JSON_FIELDS, from_validation_error
from ._json import check_json
from ._rules import check_values
from ._symbols import MAX_KNOWN_SYMBOLS, known_sources, tick_topics
from ._types import MAX_INT64

__all__ = ["MAX_EVENT_BYTES", "admit", "build", "from_dict", "validate"]

E = TypeVar("E", bound=Event)

_INF: Final = math.inf
_MIN_INT64: Final = -(2**63)

#: The most bytes one event may take encoded (msgpack): 1 MiB. Whatever validation
#: admits can therefore always be stored, or kept as a dead letter, far below
#: SQLite's limit on one value (1e9 bytes by default), even as JSON text (at most six
#: bytes per encoded byte). Events without JSON payloads stay well under it by their
#: per-field caps (the longest text is 65,536 characters); it bounds the JSON
#: payloads of TradeAnalysis, AnalysisResult and SystemHealth, whose strings may
#: each hold up to a million characters.
MAX_EVENT_BYTES: Final = 1_048_576

# The last event :func:`build` made and validated, and its topic, when none of its
# values can change afterwards (a dict or list can): publishing it right after,
# as the integration calls do, admits it without validating it a second time.
_built: tuple[Event, str] | None = None
_UNCHANGING: Final = frozenset({str, int, float, bool, type(None)})

_encoder: Final = msgspec.msgpack.Encoder()
_decoders: Final[dict[type[Event], msgspec.msgpack.Decoder[Any]]] = {
    cls: msgspec.msgpack.Decoder(cls) for cls in EVENT_TYPES
}


def admit(event: Event) -> str:
    """Validate ``event`` and return its topic: the event bus's hook, one call per publish.

    :raises InvalidEvent: naming the event type, the field and the bad value.
    """
    if type(event) is Tick:
        # The hot path: a handful of comparisons. A symbol seen before is known valid
        # (its topic is cached); anything unusual goes the slow way for a precise error.
        try:
            bid = event.bid
            ask = event.ask
            volume = event.volume
            ts = event.ts
            if (
                type(bid) is type(ask) is type(volume) is float
                and type(ts) is int
                and 0.0 < bid < _INF
                and 0.0 < ask < _INF
                and 0.0 <= volume < _INF
                and 0 <= ts <= MAX_INT64
                and event.source in known_sources
                and (event.last is None or (type(event.last) is float and 0.0 < event.last < _INF))
            ):
                return tick_topics[event.symbol]
        except Exception:  # an unknown or unhashable symbol, a str price, ...
            pass
    global _built
    built = _built
    if built is not None and built[0] is event:
        _built = None  # once: the same object published again is validated again
        return built[1]
    _validate_slow(event)
    topic = event.topic
    if type(event) is Tick and len(tick_topics) < MAX_KNOWN_SYMBOLS:
        tick_topics[event.symbol] = topic
        if len(known_sources) < 1_000:
            known_sources.add(event.source)
    return topic


def validate(event: E) -> E:
    """Return ``event`` unchanged if it is valid, else raise :class:`InvalidEvent`.

    :raises InvalidEvent: naming the event type, the field and the bad value.
    """
    global _built
    if _built is not None and _built[0] is event:
        _built = None  # an explicit validation always checks every field
    admit(event)
    return event


def _validate_slow(event: Event) -> None:
    cls = type(event)
    decoder = _decoders.get(cls)
    if decoder is None:
        raise InvalidEvent(cls.__name__, None, event, "not a tradebus event type")
    _check_float_ints(event)
    # Characters of its strings, per field: a lower bound of its encoded size.
    text: dict[str, int] = {}
    for field in JSON_FIELDS[cls]:
        text[field] = check_json(cls.__name__, field, getattr(event, field))
    for field in FIELDS[cls]:
        value = getattr(event, field)
        if type(value) is str:
            text[field] = len(value)
    if sum(text.values()) > MAX_EVENT_BYTES:  # refuse before encoding (allocating) it all
        raise _too_large(event, sum(text.values()), text, exact=False)
    try:
        data = _encoder.encode(event)
    except Exception as exc:
        name, value = _find_unencodable(event)
        raise InvalidEvent(cls.__name__, name, value, f"cannot be encoded ({exc})") from exc
    if len(data) > MAX_EVENT_BYTES:
        raise _too_large(event, len(data), text, exact=True)
    try:
        decoded = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise from_validation_error(cls, event, exc) from None
    try:
        same = decoded == event
    except Exception:
        same = False
    if not same:
        _check_round_trip(event, decoded)
    check_values(event)  # its JSON payloads were checked first


def _check_float_ints(event: Event) -> None:
    """Refuse an int in a float field that SQLite cannot bind (beyond 64 bits).

    :func:`build` makes such ints floats; an event built directly keeps what it was
    given, and the writer binds it as it is.
    """
    cls = type(event)
    for field in FLOAT_FIELDS[cls]:
        value = getattr(event, field)
        if type(value) is int and not _MIN_INT64 <= value <= MAX_INT64:
            raise InvalidEvent(
                cls.__name__,
                field,
                value,
                "an int in a float field must be within the signed 64-bit range "
                "(-2**63 to 2**63 - 1); pass a float",
            )


def _too_large(event: Event, size: int, text: dict[str, int], *, exact: bool) -> InvalidEvent:
    """The error of an event over :data:`MAX_EVENT_BYTES`, naming its largest field."""
    name = type(event).__name__
    largest = max(text, key=text.__getitem__) if text else None
    amount = f"{size:,} bytes" if exact else f"at least {size:,} bytes"
    return InvalidEvent(
        name,
        None,
        getattr(event, largest) if largest else event,
        f"its encoded size, {amount}, is over the limit of {MAX_EVENT_BYTES:,} bytes per "
        f"event (largest field: {largest}); store bulky data elsewhere and log a reference",
    )


def _check_round_trip(event: Event, decoded: Event) -> None:
    """Refuse a value that does not survive encoding: the wrong type in disguise.

    msgspec encodes datetimes, decimals, UUIDs and enums as strings, which then
    decode as valid ``str`` fields; the event itself would still hold the object.
    """
    cls = type(event)
    json_fields = JSON_FIELDS[cls]  # checked strictly by check_json already
    for name in FIELDS[cls]:
        if name in json_fields:
            continue
        value = getattr(event, name)
        back = getattr(decoded, name)
        if type(back) is float and back != back:
            continue  # NaN: semantic_check names it
        try:
            same = bool(value == back)
        except Exception:
            same = False
        if not same:
            raise InvalidEvent(
                cls.__name__,
                name,
                value,
                f"expected {type(back).__name__}, got {type(value).__name__}",
            )


def _find_unencodable(event: Event) -> tuple[str | None, Any]:
    for name in FIELDS[type(event)]:
        value = getattr(event, name)
        try:
            _encoder.encode(value)
        except Exception:
            return name, value
    return None, event


_MISSING_ARG: Final = re.compile(
    r"(?:[Mm]issing required argument|[Uu]nexpected keyword argument) '([^']+)'"
)


def build(cls: type[E], /, **fields: Any) -> E:
    """Build a ``cls`` event from keyword arguments and validate it.

    :raises InvalidEvent: on unknown or missing fields and invalid values.
    """
    global _built
    if cls not in _decoders:
        raise InvalidEvent(getattr(cls, "__name__", repr(cls)), None, cls, "not an event type")
    for name in FLOAT_FIELDS[cls]:
        value = fields.get(name)
        if type(value) is int:  # a float field holds a float, as stored
            with contextlib.suppress(OverflowError):  # beyond any float: validation names it
                fields[name] = float(value)
    try:
        event = cls(**fields)
    except TypeError as exc:
        match = _MISSING_ARG.search(str(exc))
        field = match.group(1) if match else None
        value = fields.get(field) if field else None
        raise InvalidEvent(cls.__name__, field, value, str(exc)) from None
    topic = admit(event)
    if _UNCHANGING.issuperset(map(type, msgspec.structs.astuple(event))):
        _built = (event, topic)
    return event


def from_dict(data: Mapping[str, Any], cls: type[E] | None = None) -> E:
    """Build an event from a mapping (its ``type`` key names the class when ``cls`` is not
    given) and validate it.

    :raises InvalidEvent: on an unknown type, unknown or missing fields, invalid values.
    """
    if not isinstance(data, Mapping):
        event_type = "event" if cls is None else cls.__name__
        raise InvalidEvent(event_type, None, data, "expected a mapping")
    fields = dict(data)
    tag = fields.pop("type", None)
    target: type[Event]
    if cls is None:
        found = BY_TAG.get(tag) if isinstance(tag, str) else None
        if found is None:
            raise InvalidEvent("event", "type", tag, f"expected one of {sorted(BY_TAG)}")
        target = found
    else:
        target = cls
        if tag is not None and tag != cls.__name__:
            raise InvalidEvent(cls.__name__, "type", tag, f"expected {cls.__name__!r}")
    bad = [key for key in fields if not isinstance(key, str)]
    if bad:
        raise InvalidEvent(target.__name__, None, bad[0], "field names must be str")
    return build(target, **fields)  # type: ignore[return-value]  # E is target's type
