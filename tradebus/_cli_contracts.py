"""``--contract-size [SYMBOL=]SIZE``: the units per lot the P&L of the monitor, the
journal, the API and the demo are computed with (repeatable; a bare SIZE is the one of
every symbol not named)."""

from __future__ import annotations

import argparse
import math

from ._contracts import DEFAULT_CONTRACT, ContractSizes
from ._exceptions import TradebusError

__all__ = ["contract_size_argument", "contract_sizes_of", "parse_contract_size"]

_FLAG = "--contract-size"
_HELP = (
    "units per lot of a symbol, e.g. EURUSD=100000 or XAUUSD=100 (repeat for several); "
    "a bare SIZE (or *=SIZE) is the one of every symbol not named (default: 1). P&L is "
    "price distance x volume x contract size, in the symbol's quote currency"
)


def parse_contract_size(text: str) -> tuple[str, float]:
    """``SYMBOL=SIZE`` -> (SYMBOL, SIZE); ``SIZE`` -> (``*``, SIZE).

    :raises argparse.ArgumentTypeError: saying what is wrong and what is allowed.
    """
    symbol, sep, number = text.rpartition("=")  # a symbol may hold "=", a size never
    if not sep:
        symbol = DEFAULT_CONTRACT
    elif not symbol:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the symbol before '=' is empty (give SYMBOL=SIZE, e.g. "
            "EURUSD=100000, or a bare SIZE for every symbol not named)"
        )
    try:
        size = float(number)
    except ValueError:
        size = math.nan
    if not 0 < size < math.inf:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the contract size must be a finite number > 0 (units per lot, "
            f"e.g. EURUSD=100000, or 100000 for every symbol not named), got {number!r}"
        )
    try:
        ContractSizes({symbol: size}, option=_FLAG)
    except TradebusError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return symbol, size


def contract_size_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--contract-size [SYMBOL=]SIZE`` (repeatable) to ``parser``."""
    parser.add_argument(
        _FLAG,
        dest="contract_sizes",
        action="append",
        type=parse_contract_size,
        default=[],
        metavar="[SYMBOL=]SIZE",
        help=_HELP,
    )


def contract_sizes_of(args: argparse.Namespace) -> dict[str, float] | None:
    """The contract sizes of the parsed ``args`` (a symbol given twice: the last
    one), or None if none was given."""
    given: list[tuple[str, float]] = getattr(args, "contract_sizes", [])
    return dict(given) or None
