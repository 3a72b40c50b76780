"""Broker symbols: the pattern they must match, and the symbols (and their tick
topics) already known valid, so that each distinct symbol is matched once."""

from __future__ import annotations

import re
from typing import Final

from ._exceptions import InvalidEvent

__all__ = ["MAX_KNOWN_SYMBOLS", "SYMBOL_RE", "check_symbol", "known_sources", "tick_topics"]

# Broker symbols: letters and digits with the separators brokers use
# (EURUSD.m, XAUUSD.r, BTC/USDT, ES-202612, ^GSPC, EURUSD=X, BRK.B, 6E#).
SYMBOL_RE: Final = re.compile(r"[A-Za-z0-9^][A-Za-z0-9._/\-:=^#+@&$!]{0,63}")
#: How many symbols (and tick topics) are remembered at most.
MAX_KNOWN_SYMBOLS: Final = 100_000
_known_symbols: set[str] = set()
#: Tick.source values that passed validation (filled by schemas.admit, bounded).
known_sources: set[str] = {""}
#: The topics of the tick symbols that passed validation (filled by schemas.admit,
#: bounded): a known symbol's tick needs no pattern match and no topic formatting.
tick_topics: dict[str, str] = {}


def check_symbol(event_type: str, symbol: object, field: str = "symbol") -> None:
    """Raise :class:`InvalidEvent` unless ``symbol`` is a well-formed broker symbol."""
    if type(symbol) is not str:  # first: an unhashable value cannot be looked up
        raise InvalidEvent(event_type, field, symbol, "expected a str")
    if symbol in _known_symbols:
        return
    if not symbol:
        raise InvalidEvent(event_type, field, symbol, "must not be empty")
    if SYMBOL_RE.fullmatch(symbol) is None:
        raise InvalidEvent(
            event_type,
            field,
            symbol,
            "expected 1-64 letters, digits or ._/-:=^#+@&$! starting with a letter or digit",
        )
    if len(_known_symbols) < MAX_KNOWN_SYMBOLS:
        _known_symbols.add(symbol)
