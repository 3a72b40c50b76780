"""Contract sizes: how many units of its asset one lot of a symbol is (a forex lot
100,000, a gold lot 100 oz), which turn a price distance times a volume in lots into
money, in the symbol's quote currency."""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping

from schemas import InvalidEvent, check_symbol

from ._exceptions import TradebusError

__all__ = [
    "DEFAULT_CONTRACT",
    "KEY_RULE",
    "MAX_CONTRACT_SIZE",
    "MIN_CONTRACT_SIZE",
    "SIZE_RULE",
    "ContractSizes",
    "is_key",
    "is_size",
    "shown",
]

#: The key of the contract size of every symbol not named.
DEFAULT_CONTRACT = "*"
#: The range of a contract size (units per lot): far beyond any real contract (a
#: forex lot is 1e5 units), and small enough that a money figure of real prices and
#: volumes stays a finite float.
MIN_CONTRACT_SIZE = 1e-9
MAX_CONTRACT_SIZE = 1e9

#: What a key of contract sizes may be, and a contract size.
KEY_RULE = (
    "a key must be a symbol (1-64 letters, digits or ._/-:=^#+@&$!, starting with a "
    f"letter or digit, as in events) or {DEFAULT_CONTRACT!r} for every other symbol"
)
SIZE_RULE = "a number from 1e-9 to 1e9"  # MIN_CONTRACT_SIZE, MAX_CONTRACT_SIZE
_short = reprlib.Repr()
_short.maxlong, _short.maxstring, _short.maxother = 40, 80, 80
#: A value as an error message shows it (a huge one shortened).
shown = _short.repr


def is_key(key: object) -> bool:
    """Whether ``key`` can be a key of contract sizes: ``"*"``, or a symbol an event
    can have (a key no symbol can be would never apply)."""
    if key == DEFAULT_CONTRACT:
        return True
    try:
        check_symbol("contract_sizes", key)
    except InvalidEvent:
        return False
    return True


def is_size(value: object) -> bool:
    """Whether ``value`` is a contract size (a number in the range, not a bool)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    # NaN is in no range; an int too large for a float is out of it before converting.
    return number and MIN_CONTRACT_SIZE <= value <= MAX_CONTRACT_SIZE  # type: ignore[operator]


class ContractSizes(Mapping[str, float]):
    """Contract sizes by symbol (units per lot), ``"*"`` for every symbol not named
    (1.0 unless given: P&L is then price distance x volume). Read-only.

    ``ContractSizes({"EURUSD": 100_000, "XAUUSD": 100})``; a ``ContractSizes`` is a
    mapping too, so it can be given wherever a mapping of contract sizes is taken.

    :raises TradebusError: naming ``option``, the key or value, and what is allowed:
        a size is a number from :data:`MIN_CONTRACT_SIZE` (1e-9) to
        :data:`MAX_CONTRACT_SIZE` (1e9), a key a symbol as events have them
        (``schemas.check_symbol``) or ``"*"``.
    """

    __slots__ = ("_default", "_sizes")

    def __init__(
        self, sizes: Mapping[str, float] | None = None, *, option: str = "contract_sizes"
    ) -> None:
        if sizes is not None and not isinstance(sizes, Mapping):
            raise TradebusError(
                f"{option} must be a mapping of symbol -> contract size (units per lot), "
                f"got {sizes!r}"
            )
        checked: dict[str, float] = {}
        for key, value in (sizes or {}).items():
            if not is_key(key):
                raise TradebusError(f"{option}: {KEY_RULE}, got {shown(key)}")
            if not is_size(value):
                raise TradebusError(
                    f"{option}[{key!r}] must be {SIZE_RULE} (units per lot), got {shown(value)}"
                )
            checked[key] = float(value)
        self._sizes = checked
        self._default = checked.get(DEFAULT_CONTRACT, 1.0)

    def size(self, symbol: str) -> float:
        """The contract size of ``symbol`` (the default one if it is not named)."""
        return self._sizes.get(symbol, self._default)

    def money(self, symbol: str, distance: float, volume: float) -> float:
        """``distance`` (a price distance) x ``volume`` (lots) x the contract size of
        ``symbol``: money, in its quote currency."""
        return distance * volume * self.size(symbol)

    def __getitem__(self, key: str) -> float:
        return self._sizes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)

    def __repr__(self) -> str:
        return f"ContractSizes({self._sizes!r})"
