"""Contract sizes: how many units of its asset one lot of a symbol is (a forex lot
100,000, a gold lot 100 oz), which turn a price distance times a volume in lots into
money, in the symbol's quote currency."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from ._exceptions import TradebusError

__all__ = ["DEFAULT_CONTRACT", "ContractSizes"]

#: The key of the contract size of every symbol not named.
DEFAULT_CONTRACT = "*"


class ContractSizes(Mapping[str, float]):
    """Contract sizes by symbol (units per lot), ``"*"`` for every symbol not named
    (1.0 unless given: P&L is then price distance x volume). Read-only.

    ``ContractSizes({"EURUSD": 100_000, "XAUUSD": 100})``; a ``ContractSizes`` is a
    mapping too, so it can be given wherever a mapping of contract sizes is taken.

    :raises TradebusError: naming ``option``, the key or value, and what is allowed:
        a size is a finite number > 0, a key a non-empty symbol without spaces.
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
            if not isinstance(key, str) or not key or key.split() != [key]:
                raise TradebusError(
                    f"{option}: a key must be a symbol (a non-empty text without spaces) "
                    f"or {DEFAULT_CONTRACT!r} for every other symbol, got {key!r}"
                )
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and 0 < value < math.inf):  # NaN is not > 0 either
                raise TradebusError(
                    f"{option}[{key!r}] must be a finite number > 0 (units per lot), got {value!r}"
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
