"""What the bridge raises."""

from __future__ import annotations

from .._exceptions import TradebusError

__all__ = ["BridgeError", "BridgeOptionError"]


class BridgeError(TradebusError):
    """The bridge cannot do what it was asked (a server it cannot reach, a stream
    that is not what it expects)."""


class BridgeOptionError(BridgeError, ValueError):
    """An option of the bridge has a value it does not accept."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"bridge option {field}={value!r} is not allowed: it must be {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.value, self.allowed))
