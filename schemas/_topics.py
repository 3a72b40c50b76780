"""NATS-style topic names for events: dot-separated tokens, reversible escaping."""

from __future__ import annotations

from functools import lru_cache
from typing import Final

__all__ = ["symbol_token", "token_symbol"]

# Characters that cannot appear inside a NATS subject token, plus the escape
# character itself so that the mapping stays reversible. Whitespace and other
# unprintable characters are escaped too (see _needs_escape).
_SPECIAL: Final = frozenset("%.*>")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _needs_escape(ch: str) -> bool:
    return ch in _SPECIAL or ch.isspace() or not ch.isprintable()


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"%{code:02X}"
    if code < 0x10000:
        return f"%u{code:04X}"
    return f"%U{code:08X}"


@lru_cache(maxsize=65_536)
def symbol_token(text: str) -> str:
    """Return ``text`` as one topic token (``EURUSD.m`` -> ``EURUSD%2Em``).

    ``%``, ``.``, ``*``, ``>``, whitespace and unprintable characters are escaped as
    ``%XX`` (``%uXXXX`` or ``%UXXXXXXXX`` beyond Latin-1); :func:`token_symbol`
    inverts it.
    """
    if not any(_needs_escape(ch) for ch in text):
        return text
    return "".join(_escape(ch) if _needs_escape(ch) else ch for ch in text)


def _unescape_at(token: str, i: int) -> tuple[str, int] | None:
    """Decode the escape starting at ``token[i] == "%"``: (character, length) or None."""
    kind = token[i + 1 : i + 2]
    if kind == "u":
        digits, start = 4, i + 2
    elif kind == "U":
        digits, start = 8, i + 2
    else:
        digits, start = 2, i + 1
    hex_digits = token[start : start + digits]
    if len(hex_digits) != digits or not _HEX.issuperset(hex_digits):
        return None
    code = int(hex_digits, 16)
    if code > 0x10FFFF:
        return None
    return chr(code), start + digits - i


def token_symbol(token: str) -> str:
    """Invert :func:`symbol_token` (a ``%`` that starts no escape is kept as it is)."""
    if "%" not in token:
        return token
    out: list[str] = []
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "%":
            decoded = _unescape_at(token, i)
            if decoded is not None:
                out.append(decoded[0])
                i += decoded[1]
                continue
        out.append(ch)
        i += 1
    return "".join(out)
