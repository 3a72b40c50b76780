"""Validation of events: types, ranges, finiteness, symbols, event ids and cross-field
rules.

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
from typing import Any, Final, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec

from ._events import (
    AnyEvent,
    Candle,
    Event,
    PositionUpdate,
    RecommendationUpdate,
    Tick,
    TradeExecution,
    TradeRecommendation,
    _tick_topics,
)
from ._exceptions import InvalidEvent
from ._ids import check_event_id
from ._types import MAX_INT64, Direction, Outcome

__all__ = [
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "admit",
    "build",
    "check_symbol",
    "from_dict",
    "semantic_check",
    "validate",
]

E = TypeVar("E", bound=Event)

EVENT_TYPES: Final[tuple[type[Event], ...]] = get_args(AnyEvent)
_BY_TAG: Final[dict[str, type[Event]]] = {cls.__name__: cls for cls in EVENT_TYPES}

# Broker symbols: letters and digits with the separators brokers use
# (EURUSD.m, XAUUSD.r, BTC/USDT, ES-202612, ^GSPC, EURUSD=X, BRK.B, 6E#).
_SYMBOL_RE: Final = re.compile(r"[A-Za-z0-9^][A-Za-z0-9._/\-:=^#+@&$!]{0,63}")
_MAX_KNOWN_SYMBOLS: Final = 100_000
_known_symbols: set[str] = set()
_known_sources: set[str] = {""}  # Tick.source values that passed validation

_INF: Final = math.inf
_MAX_JSON_DEPTH: Final = 32
_MAX_JSON_NODES: Final = 100_000
_MAX_JSON_STRING: Final = 1_000_000
_TOO_DEEP: Final = f"nested deeper than {_MAX_JSON_DEPTH}"

#: The most bytes one event may take encoded (msgpack): 1 MiB. Whatever validation
#: admits can therefore always be stored, or kept as a dead letter, far below
#: SQLite's limit on one value (1e9 bytes by default), even as JSON text (at most six
#: bytes per encoded byte). Events without JSON payloads stay well under it by their
#: per-field caps (the longest text is 65,536 characters); it bounds the JSON
#: payloads of TradeAnalysis, AnalysisResult and SystemHealth, whose strings may
#: each hold up to a million characters.
MAX_EVENT_BYTES: Final = 1_048_576

_encoder: Final = msgspec.msgpack.Encoder()
_decoders: Final[dict[type[Event], msgspec.msgpack.Decoder[Any]]] = {
    cls: msgspec.msgpack.Decoder(cls) for cls in EVENT_TYPES
}
_FIELDS: Final[dict[type[Event], tuple[str, ...]]] = {
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


_MIN_INT64: Final = -(2**63)
_FLOAT_FIELDS: dict[type[Event], tuple[str, ...]] = {}
_JSON_FIELDS: dict[type[Event], tuple[str, ...]] = {}
#: The allowed values of every Literal (enum) field, for error messages.
_CHOICES: dict[type[Event], dict[str, str]] = {}
for _cls in EVENT_TYPES:
    _hints = get_type_hints(_cls, include_extras=True)
    _FLOAT_FIELDS[_cls] = tuple(f for f in _FIELDS[_cls] if _has_float(_hints[f]))
    _JSON_FIELDS[_cls] = tuple(f for f in _FIELDS[_cls] if _is_json(_hints[f]))
    _CHOICES[_cls] = {f: c for f in _FIELDS[_cls] if (c := _choices(_hints[f])) is not None}
#: The event types that carry an ``event_id`` (of the format ``EVENT_ID_FORMAT``).
_HAS_EVENT_ID: Final = frozenset(cls for cls in EVENT_TYPES if "event_id" in _FIELDS[cls])


def check_symbol(event_type: str, symbol: object, field: str = "symbol") -> None:
    """Raise :class:`InvalidEvent` unless ``symbol`` is a well-formed broker symbol."""
    if type(symbol) is not str:  # first: an unhashable value cannot be looked up
        raise InvalidEvent(event_type, field, symbol, "expected a str")
    if symbol in _known_symbols:
        return
    if not symbol:
        raise InvalidEvent(event_type, field, symbol, "must not be empty")
    if _SYMBOL_RE.fullmatch(symbol) is None:
        raise InvalidEvent(
            event_type,
            field,
            symbol,
            "expected 1-64 letters, digits or ._/-:=^#+@&$! starting with a letter or digit",
        )
    if len(_known_symbols) < _MAX_KNOWN_SYMBOLS:
        _known_symbols.add(symbol)


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
                and event.source in _known_sources
                and (event.last is None or (type(event.last) is float and 0.0 < event.last < _INF))
            ):
                return _tick_topics[event.symbol]
        except Exception:  # an unknown or unhashable symbol, a str price, ...
            pass
    _validate_slow(event)
    topic = event.topic
    if type(event) is Tick and len(_tick_topics) < _MAX_KNOWN_SYMBOLS:
        _tick_topics[event.symbol] = topic
        if len(_known_sources) < 1_000:
            _known_sources.add(event.source)
    return topic


def validate(event: E) -> E:
    """Return ``event`` unchanged if it is valid, else raise :class:`InvalidEvent`.

    :raises InvalidEvent: naming the event type, the field and the bad value.
    """
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
    for field in _JSON_FIELDS[cls]:
        text[field] = _check_json(cls.__name__, field, getattr(event, field))
    for field in _FIELDS[cls]:
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
        raise _from_validation_error(cls, event, exc) from None
    try:
        same = decoded == event
    except Exception:
        same = False
    if not same:
        _check_round_trip(event, decoded)
    _check_values(event)  # its JSON payloads were checked first


def _check_float_ints(event: Event) -> None:
    """Refuse an int in a float field that SQLite cannot bind (beyond 64 bits).

    :func:`build` makes such ints floats; an event built directly keeps what it was
    given, and the writer binds it as it is.
    """
    cls = type(event)
    for field in _FLOAT_FIELDS[cls]:
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
    json_fields = _JSON_FIELDS[cls]  # checked strictly by _check_json already
    for name in _FIELDS[cls]:
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
    for name in _FIELDS[type(event)]:
        value = getattr(event, name)
        try:
            _encoder.encode(value)
        except Exception:
            return name, value
    return None, event


_AT_INDEX: Final = re.compile(r" - at `\$\[(\d+)\](.*)`$")


def _from_validation_error(
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
    fields = _FIELDS[cls]
    if not 0 <= index < len(fields):
        return InvalidEvent(cls.__name__, None, event, reason)
    name = fields[index]
    if isinstance(event, list):  # raw decoded array: [tag, field, ...]
        value = event[index + 1] if index + 1 < len(event) else None
    else:
        value = getattr(event, name, None)
    choices = _CHOICES[cls].get(name)
    if choices is not None:
        # msgspec says "invalid enum value 'buy'" or "expected `str`, got `int`".
        reason = f"must be one of {choices}"
    elif match.group(2):
        reason = f"{reason} at {match.group(2)}"
    return InvalidEvent(cls.__name__, name, value, reason)


def semantic_check(event: Event) -> None:
    """Check what typed decoding cannot: finiteness, symbols, cross-field rules, and
    that JSON payloads are plain JSON of bounded size.

    The event's field types are assumed correct (it was just decoded, or checked).
    """
    _check_values(event)
    cls = type(event)
    for field in _JSON_FIELDS[cls]:
        _check_json(cls.__name__, field, getattr(event, field))


def _check_values(event: Event) -> None:
    """:func:`semantic_check` but for the JSON payloads (checked before encoding)."""
    cls = type(event)
    name = cls.__name__
    for field in _FLOAT_FIELDS[cls]:
        value = getattr(event, field)
        if value is not None and not math.isfinite(value):
            raise InvalidEvent(name, field, value, "must be a finite number")
    if cls in _HAS_EVENT_ID:
        check_event_id(getattr(event, "event_id"), name)  # noqa: B009
    symbol = getattr(event, "symbol", None)
    if symbol is not None:
        check_symbol(name, symbol)
    if cls is TradeExecution or cls is TradeRecommendation:
        assert isinstance(event, TradeExecution | TradeRecommendation)
        _check_sides(name, event.direction, event.entry_price, event.stop_loss, event.take_profit)
    elif cls is Candle:
        assert isinstance(event, Candle)
        if event.high < max(event.open, event.close, event.low):
            raise InvalidEvent(name, "high", event.high, "must be >= open, close and low")
        if event.low > min(event.open, event.close):
            raise InvalidEvent(name, "low", event.low, "must be <= open and close")
    elif cls is RecommendationUpdate:
        assert isinstance(event, RecommendationUpdate)
        if event.outcome is not None and event.status != "closed":
            raise InvalidEvent(name, "outcome", event.outcome, "only a closed status has one")
        _check_outcome(name, event.outcome, event.realized_pnl)
    elif cls is PositionUpdate:
        assert isinstance(event, PositionUpdate)
        if event.close_price is not None and event.status != "closed":
            raise InvalidEvent(name, "close_price", event.close_price, "only a close has one")


def _check_outcome(name: str, outcome: Outcome | None, realized_pnl: float | None) -> None:
    """An outcome must agree with the sign of the realized P&L given with it."""
    if outcome is None or realized_pnl is None:
        return
    if realized_pnl > 0:
        agrees: Outcome = "win"
    elif realized_pnl < 0:
        agrees = "loss"
    else:
        agrees = "breakeven"
    if outcome != agrees:
        raise InvalidEvent(
            name,
            "outcome",
            outcome,
            f"contradicts realized_pnl {realized_pnl!r}, whose outcome is {agrees!r} "
            "(win: > 0, loss: < 0, breakeven: 0)",
        )


def _check_sides(
    name: str,
    direction: Direction,
    entry: float,
    stop_loss: float | None,
    take_profit: float | None,
) -> None:
    if direction == "BUY":
        if stop_loss is not None and not stop_loss < entry:
            raise InvalidEvent(name, "stop_loss", stop_loss, f"a BUY needs it below entry {entry}")
        if take_profit is not None and not take_profit > entry:
            raise InvalidEvent(
                name, "take_profit", take_profit, f"a BUY needs it above entry {entry}"
            )
    else:
        if stop_loss is not None and not stop_loss > entry:
            raise InvalidEvent(name, "stop_loss", stop_loss, f"a SELL needs it above entry {entry}")
        if take_profit is not None and not take_profit < entry:
            raise InvalidEvent(
                name, "take_profit", take_profit, f"a SELL needs it below entry {entry}"
            )


def _check_json(event_type: str, field: str, value: object) -> int:
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
        if nodes > _MAX_JSON_NODES:
            raise InvalidEvent(event_type, field, value, f"more than {_MAX_JSON_NODES} values")
        kind = type(item)
        if kind is dict:
            if depth > _MAX_JSON_DEPTH:
                raise InvalidEvent(event_type, field, value, _TOO_DEEP)
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise InvalidEvent(event_type, field, key, "object keys must be str")
                text += len(key)
                stack.append((child, depth + 1))
        elif kind is list or kind is tuple:
            if depth > _MAX_JSON_DEPTH:
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
            if size > _MAX_JSON_STRING:
                raise InvalidEvent(
                    event_type,
                    field,
                    item,
                    f"strings must be at most {_MAX_JSON_STRING:,} characters",
                )
            text += size
        elif item is not None and kind is not bool:
            raise InvalidEvent(event_type, field, item, f"{kind.__name__} is not JSON data")
    return text


_MISSING_ARG: Final = re.compile(
    r"(?:[Mm]issing required argument|[Uu]nexpected keyword argument) '([^']+)'"
)


def build(cls: type[E], /, **fields: Any) -> E:
    """Build a ``cls`` event from keyword arguments and validate it.

    :raises InvalidEvent: on unknown or missing fields and invalid values.
    """
    if cls not in _decoders:
        raise InvalidEvent(getattr(cls, "__name__", repr(cls)), None, cls, "not an event type")
    for name in _FLOAT_FIELDS[cls]:
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
    return validate(event)


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
        found = _BY_TAG.get(tag) if isinstance(tag, str) else None
        if found is None:
            raise InvalidEvent("event", "type", tag, f"expected one of {sorted(_BY_TAG)}")
        target = found
    else:
        target = cls
        if tag is not None and tag != cls.__name__:
            raise InvalidEvent(cls.__name__, "type", tag, f"expected {cls.__name__!r}")
    bad = [key for key in fields if not isinstance(key, str)]
    if bad:
        raise InvalidEvent(target.__name__, None, bad[0], "field names must be str")
    return build(target, **fields)  # type: ignore[return-value]  # E is target's type
