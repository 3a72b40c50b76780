"""Checking the bridge's options: each error names the field, the value and what is
allowed."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import TypeVar

from eventbus import Pattern

from ._errors import BridgeOptionError

__all__ = [
    "check_name",
    "check_number",
    "check_topics",
    "check_url",
    "overlapping",
]

N = TypeVar("N", int, float)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def check_number(field: str, value: N, low: float, high: float) -> N:
    """``value`` if it is a number (an int for an int field) within [low, high]."""
    integral = isinstance(low, int) and isinstance(high, int)
    kind = "an int" if integral else "a number"
    ok_type = isinstance(value, int) if integral else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not low <= value <= high:
        raise BridgeOptionError(field, value, f"{kind} from {low:g} to {high:g}")
    return value


def check_name(field: str, value: object) -> str:
    """``value`` if it is 1 to 32 letters, digits, '_' or '-'."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise BridgeOptionError(field, value, "1 to 32 letters, digits, '_' or '-'")
    return value


def check_topics(topics: Iterable[str]) -> tuple[str, ...]:
    """The topic patterns, each checked (``*`` one token, ``>`` the rest)."""
    if isinstance(topics, str):
        topics = [topics]
    try:
        patterns = tuple(topics)
    except TypeError:
        raise BridgeOptionError("topics", topics, "a list of topic patterns") from None
    if not patterns:
        raise BridgeOptionError("topics", [], "at least one topic pattern")
    for pattern in patterns:
        try:
            Pattern(pattern)
        except ValueError as exc:
            raise BridgeOptionError(
                "topics", pattern, f"a topic pattern such as 'market.tick.>' ({exc})"
            ) from None
    return patterns


def _tokens_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == ">" or y == ">":
            return True
        if x != y and x != "*" and y != "*":
            return False
        if i == len(a) - 1 or i == len(b) - 1:
            break
    return len(a) == len(b)


def overlapping(patterns: Sequence[str], others: Sequence[str]) -> bool:
    """Whether some topic matches one of ``patterns`` and one of ``others``."""
    return any(_tokens_overlap(a.split("."), b.split(".")) for a in patterns for b in others)


#: The schemes of a NATS server's address.
_SCHEMES = ("nats", "tls", "ws", "wss")


def check_url(url: object) -> str:
    """``url``, if it is a NATS server's address (``nats://host:port``, or several
    separated by commas).

    :raises BridgeOptionError: naming the field, the value and what is allowed.
    """
    allowed = "a NATS address such as 'nats://host:4222' (scheme nats, tls, ws or wss)"
    if not isinstance(url, str) or not url:
        raise BridgeOptionError("url", url, allowed)
    for part in url.split(","):
        parsed = urllib.parse.urlsplit(part.strip())
        if parsed.scheme not in _SCHEMES or not parsed.hostname:
            raise BridgeOptionError("url", url, allowed)
    return url
