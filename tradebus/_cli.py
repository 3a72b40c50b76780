"""The ``tradebus`` command line."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("tradebus 0.1.0")
    return 0
