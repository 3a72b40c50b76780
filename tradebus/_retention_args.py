"""The ``--retain`` option: a retention policy on the command line.

``--retain ticks=30d,logs=90d`` (repeatable; the items of every occurrence add up):
``GROUP=AGE`` keeps a group of tables ``AGE`` (``30``, ``30d``: days; ``12h``: hours;
``forever``: never pruned), ``chunk=N`` sets the rows per prune transaction,
``every=SECONDS`` (or ``30m``, ``6h``) the time between passes, ``share=X`` the
largest share of the writer's time a prune takes.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Final

from writers import RETENTION_GROUPS as GROUPS
from writers import InvalidOption, Retention

__all__ = ["parse_retention", "retain_argument", "retention_of"]

_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}
_FOREVER: Final = ("forever", "never", "keep")
_SETTINGS: Final = ("chunk", "every", "share")


def retain_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--retain ITEM[,ITEM...]`` (repeatable) to ``parser``; read it back with
    :func:`retention_of`."""
    parser.add_argument(
        "--retain",
        dest="retain",
        action="append",
        default=[],
        type=_items,
        metavar="GROUP=AGE[,...]",
        help=(
            "how long to keep a group of tables, by event time: "
            + ", ".join(f"{g}=AGE" for g in GROUPS)
            + " (AGE: days such as 30 or 30d, hours such as 12h, or forever); also "
            "chunk=ROWS per prune transaction (default 2000), every=SECONDS between "
            "passes (default 3600; 30m, 6h), share=X of the writer's time at most "
            "(default 0.25). Repeatable. Groups not named are kept forever"
        ),
    )


def retention_of(args: argparse.Namespace) -> Retention | None:
    """The policy the ``--retain`` options give (``None`` when there were none).

    :raises InvalidOption: if the items together are not a valid policy.
    """
    pieces: list[dict[str, Any]] = getattr(args, "retain", [])
    if not pieces:
        return None
    merged: dict[str, Any] = {}
    for piece in pieces:
        merged.update(piece)
    return Retention(**merged)


def parse_retention(text: str) -> Retention:
    """``"ticks=30d,logs=90d"`` as a :class:`Retention`.

    :raises InvalidOption: naming the item, the value and what is allowed.
    """
    try:
        return Retention(**_items(text))
    except argparse.ArgumentTypeError as exc:
        raise InvalidOption("retain", text, str(exc)) from exc


def _items(text: str) -> dict[str, Any]:
    items: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise argparse.ArgumentTypeError(
                f"expected GROUP=AGE (such as ticks=30d), got {item!r}"
            )
        if name in GROUPS:
            items[name] = _age(name, value)
        elif name == "chunk":
            items[name] = _count(value)
        elif name == "every":
            items[name] = _seconds(name, value, "s")
        elif name == "share":
            items[name] = _number(name, value)
        else:
            known = ", ".join((*GROUPS, *_SETTINGS))
            raise argparse.ArgumentTypeError(f"unknown retention item {name!r}: known are {known}")
    if not items:
        raise argparse.ArgumentTypeError("expected GROUP=AGE[,...] (such as ticks=30d), got ''")
    try:
        Retention(**items)  # each item checked as soon as it is read
    except InvalidOption as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return items


def _age(name: str, value: str) -> float | None:
    if value.lower() in _FOREVER:
        return None
    return _seconds(name, value, "d") / _UNITS["d"]


def _seconds(name: str, value: str, unit: str) -> float:
    if value[-1:].lower() in _UNITS:
        value, unit = value[:-1], value[-1:].lower()
    number = _number(name, value)
    seconds = number * _UNITS[unit]
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{name} must be more than zero, got {value!r}")
    return seconds


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a number, got {value!r}") from None


def _count(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"chunk must be a whole number of rows, got {value!r}"
        ) from None
