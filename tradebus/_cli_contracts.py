"""``--contract-size [SYMBOL=]SIZE``: the units per lot the P&L of the monitor, the
journal, the API and the demo are computed with (repeatable; a bare SIZE is the one of
every symbol not named)."""

from __future__ import annotations

import argparse
import math

from ._contracts import DEFAULT_CONTRACT, KEY_RULE, SIZE_RULE, is_key, is_size

__all__ = ["contract_size_argument", "contract_sizes_of", "parse_contract_size"]

_FLAG = "--contract-size"
_HELP = (
    "units per lot of a symbol, e.g. EURUSD=100000 or XAUUSD=100 (repeat for several); "
    "a bare SIZE (or *=SIZE) is the one of every symbol not named (default: 1). P&L is "
    "price distance x volume x contract size, in the symbol's quote currency"
)


def parse_contract_size(text: str) -> tuple[str, float]:
    """``SYMBOL=SIZE`` -> (SYMBOL, SIZE); ``SIZE`` -> (``*``, SIZE).

    A symbol may hold ``=`` (``ES=F=50``), but not ``=`` and a number
    (``EURUSD=5=6`` reads as two sizes: refused).

    :raises argparse.ArgumentTypeError: saying what is wrong and what is allowed.
    """
    symbol, sep, number = text.rpartition("=")  # a size never holds "="
    if not sep:
        symbol = DEFAULT_CONTRACT
    elif not symbol:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the symbol before '=' is empty (give SYMBOL=SIZE, e.g. "
            "EURUSD=100000, or a bare SIZE for every symbol not named)"
        )
    elif any(_is_number(part) for part in symbol.split("=")[1:]):
        raise argparse.ArgumentTypeError(
            f"{text!r}: two sizes? give one SYMBOL=SIZE, e.g. EURUSD=100000 (a symbol "
            "may hold '=' and letters, as ES=F does, but not '=' and a number)"
        )
    size = float(number) if _is_number(number) else math.nan
    if not is_size(size):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the contract size must be {SIZE_RULE} (units per lot, e.g. "
            f"EURUSD=100000, or 100000 for every symbol not named), got {number!r}"
        )
    if not is_key(symbol):
        raise argparse.ArgumentTypeError(f"{text!r}: {KEY_RULE}, got {symbol!r}")
    return symbol, size


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
