"""NATS-style topics and patterns: ``a.b.c``, ``*`` matches one token, ``>`` the rest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

__all__ = ["Pattern", "check_topic", "matches"]

_FORBIDDEN: Final = frozenset(" \t\r\n")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a concrete topic (no wildcards), else raise ValueError."""
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"a topic is a non-empty str of dot-separated tokens, got {topic!r}")
    for token in topic.split("."):
        if not token or token in ("*", ">") or any(ch in _FORBIDDEN for ch in token):
            raise ValueError(
                f"invalid topic {topic!r}: tokens must be non-empty, without whitespace, "
                "and not the wildcards '*' or '>'"
            )
    return topic


class Pattern:
    """A compiled subscription pattern."""

    __slots__ = ("_tail", "_tokens", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"a pattern is a non-empty str, got {text!r}")
        tokens = text.split(".")
        for i, token in enumerate(tokens):
            if not token or any(ch in _FORBIDDEN for ch in token):
                raise ValueError(f"invalid pattern {text!r}: empty token or whitespace")
            if token == ">" and i != len(tokens) - 1:
                raise ValueError(f"invalid pattern {text!r}: '>' must be the last token")
        self.text = text
        self._tail = tokens[-1] == ">"
        self._tokens: tuple[str, ...] = tuple(tokens[:-1] if self._tail else tokens)

    def matches(self, topic: str) -> bool:
        """Whether the concrete ``topic`` matches this pattern."""
        parts = topic.split(".")
        n = len(self._tokens)
        if self._tail:
            if len(parts) <= n:
                return False
        elif len(parts) != n:
            return False
        for want, got in zip(self._tokens, parts, strict=False):
            if want != "*" and want != got:
                return False
        return True

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def compile_patterns(patterns: str | Iterable[str]) -> tuple[Pattern, ...]:
    """Compile one pattern or a list of them."""
    if isinstance(patterns, str):
        texts: Sequence[str] = [patterns]
    else:
        try:
            texts = list(patterns)
        except TypeError:
            raise ValueError(
                f"a pattern is a non-empty str (or a list of them), got {patterns!r}"
            ) from None
    if not texts:
        raise ValueError("subscribe() needs at least one pattern")
    return tuple(Pattern(text) for text in texts)


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches the NATS-style ``pattern``."""
    return Pattern(pattern).matches(topic)
