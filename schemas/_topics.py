"""NATS-style topic names for events: dot-separated tokens, reversible escaping."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["symbol_token", "token_symbol"]

# Characters that cannot appear inside a NATS subject token, plus the escape
# character itself so that the mapping stays reversible.
_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A", ">": "%3E", " ": "%20", "\t": "%09"}
_ESCAPED = {v: k for k, v in _ESCAPES.items()}


@lru_cache(maxsize=65_536)
def symbol_token(text: str) -> str:
    """Return ``text`` as one topic token (``EURUSD.m`` -> ``EURUSD%2Em``)."""
    if not any(ch in text for ch in _ESCAPES):
        return text
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def token_symbol(token: str) -> str:
    """Invert :func:`symbol_token`."""
    if "%" not in token:
        return token
    out: list[str] = []
    i = 0
    while i < len(token):
        chunk = token[i : i + 3]
        if chunk in _ESCAPED:
            out.append(_ESCAPED[chunk])
            i += 3
        else:
            out.append(token[i])
            i += 1
    return "".join(out)
