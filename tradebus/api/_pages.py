"""What a page of a list is: its ``limit``, its opaque ``cursor``, its time range.

A list is read by keyset: each page ends at a sort key (say the ``ts`` and row id of
its last row), and the next page starts after it. The ``next_cursor`` a page gives
is that key, signed by the server for one endpoint and one set of filters; rows
added meanwhile never shift a later page (no row is repeated or skipped). A cursor
is valid for the server process that gave it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
from litestar.exceptions import ValidationException

__all__ = [
    "MAX_CURSOR",
    "MAX_INT64",
    "MAX_TIME",
    "Cursors",
    "bad_parameter",
    "check_limit",
    "iso",
    "iso_or_none",
    "parse_time",
    "time_range",
]

#: The largest integer SQLite stores (and the latest ns time).
MAX_INT64: Final = 2**63 - 1
#: The longest cursor accepted (characters): the ones the server gives are far shorter.
MAX_CURSOR: Final = 512
#: The longest time parameter accepted (characters).
MAX_TIME: Final = 64
_MAC_BYTES: Final = 12
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION: Final = re.compile(r"^(.*T\d\d:\d\d:\d\d)[.,](\d{1,9})(.*)$")
_TIME_HELP: Final = (
    "give nanoseconds since the Unix epoch (an integer, 0 to 9223372036854775807) or an "
    "ISO-8601 time such as 2026-01-31T12:00:00Z (UTC unless it names an offset)"
)


def bad_parameter(name: str, value: object, why: str) -> ValidationException:
    """A 400 naming the query parameter, its value and what is allowed."""
    shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:80])
    return ValidationException(
        detail=f"query parameter {name!r} = {shown}: {why}",
        extra=[{"key": name, "source": "query", "message": why}],
    )


def check_limit(limit: int | None, default: int, most: int) -> int:
    """The ``limit`` of a page: ``default`` if none was given.

    :raises ValidationException: if it is not 1 to ``most``.
    """
    if limit is None:
        return default
    if not 1 <= limit <= most:
        raise bad_parameter("limit", limit, f"allowed: 1 to {most} (rows per page)")
    return limit


def iso(ns: int) -> str:
    """``ns`` (since the Unix epoch) as an ISO-8601 UTC time, to the nanosecond:
    ``2026-01-31T12:00:00.123456789Z``."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    try:
        when = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return ""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def iso_or_none(ns: int | None) -> str | None:
    return None if ns is None else iso(ns)


def parse_time(name: str, value: str | None) -> int | None:
    """A time parameter (ns since the epoch, or an ISO-8601 time) in ns.

    :raises ValidationException: naming ``name`` and the value, if it is neither, or
        out of the range a timestamp can hold.
    """
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text, flags=re.ASCII):
        ns = int(text)
        if not 0 <= ns <= MAX_INT64:
            raise bad_parameter(name, value, f"out of range: {_TIME_HELP}")
        return ns
    extra_ns = 0
    found = _FRACTION.match(text)
    if found:
        digits = found.group(2)
        extra_ns = int(digits.ljust(9, "0"))
        text = found.group(1) + found.group(3)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise bad_parameter(name, value, f"not a time: {_TIME_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        delta = when - _EPOCH
    except OverflowError:
        raise bad_parameter(name, value, f"out of range: {_TIME_HELP}") from None
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
    ns += delta.microseconds * 1_000 + extra_ns
    if not 0 <= ns <= MAX_INT64:
        raise bad_parameter(name, value, f"out of range: {_TIME_HELP}")
    return ns


def time_range(start: str | None, end: str | None) -> tuple[int, int]:
    """``[start, end)`` in ns (the whole time line for what is not given).

    :raises ValidationException: if either is not a time, or start is after end.
    """
    lo = parse_time("start", start)
    hi = parse_time("end", end)
    if lo is not None and hi is not None and lo > hi:
        raise bad_parameter("start", start, f"it is after end ({end!r}): give start <= end")
    return (0 if lo is None else lo), (MAX_INT64 if hi is None else hi)


class Cursors:
    """Makes and reads the cursors of one server: ``base64url(mac + msgpack(key))``,
    the MAC (keyed by the server's secret) covering the endpoint and its filters."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        message = scope.encode() + b"\0" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def make(self, scope: str, key: Sequence[Any]) -> str:
        """The cursor that resumes a list of ``scope`` after sort key ``key``."""
        payload = msgspec.msgpack.encode(list(key))
        return base64.urlsafe_b64encode(self._mac(scope, payload) + payload).rstrip(b"=").decode()

    def read(self, scope: str, cursor: str | None, types: Sequence[type]) -> tuple[Any, ...] | None:
        """The sort key in ``cursor`` (None for the first page).

        :raises ValidationException: if ``cursor`` is not one this server gave for
            ``scope`` (garbled, altered, of another endpoint or other filters, or
            given before the server restarted).
        """
        if cursor is None:
            return None
        key = self._decode(scope, cursor)
        if (
            key is None
            or len(key) != len(types)
            or not all(isinstance(v, t) for v, t in zip(key, types, strict=True))
        ):
            raise bad_parameter(
                "cursor",
                cursor,
                "the cursor is not one this API gave for this list (garbled, altered, "
                "of another endpoint or other filters, or from before the server "
                "restarted): pass a next_cursor unchanged with the same filters, or "
                "drop it to start from the first page",
            )
        return tuple(key)

    def _decode(self, scope: str, cursor: str) -> list[Any] | None:
        if len(cursor) > MAX_CURSOR:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            return None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(scope, payload)):
            return None
        try:
            key = msgspec.msgpack.decode(payload)
        except msgspec.DecodeError:
            return None
        return key if isinstance(key, list) else None
