"""The argument types every ``tradebus`` command shares."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["at_least_zero", "data_dir_argument", "more_than_zero"]


def data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--data-dir DIR`` option, as every command has it."""
    parser.add_argument(
        "--data-dir",
        default=Path("data"),
        type=_data_dir,
        metavar="DIR",
        help="the directory of the databases (default: ./data)",
    )


def _data_dir(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("--data-dir must not be empty: give a directory")
    return Path(text)


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def more_than_zero(text: str) -> float:
    """A finite number > 0 (a rate, a duration)."""
    value = _number(text, "a number")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def at_least_zero(text: str) -> float:
    """A finite number of seconds >= 0."""
    value = _number(text, "a number of seconds")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value
