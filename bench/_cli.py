"""The command line: ``python -m bench`` (also ``tradebus bench``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from ._config import SCENARIOS, BenchConfig
from ._runner import run_bench

__all__ = ["build_parser", "config_from_args", "main"]


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(_number(text, float))
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(_number(text, float))
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _rates(text: str) -> tuple[int, ...]:
    rates = tuple(_positive_int(part) for part in text.split(",") if part.strip())
    if not rates:
        raise argparse.ArgumentTypeError(f"expected rates like 10000,50000, got {text!r}")
    return rates


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Measure tick ingest: tradebus against plain sqlite3 and the naive "
        "commit-per-tick, latency, contention and readers, in one run, as ratios.",
        epilog="scenarios: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one run each: under a minute"
    )
    parser.add_argument("--ticks", type=_positive_int, help="ticks per ingest run")
    parser.add_argument("--symbols", type=_positive_int, help="symbols the ticks spread over")
    parser.add_argument(
        "--batch", type=_positive_int, help="writer max_batch and ceiling rows per transaction"
    )
    parser.add_argument("--delay-ms", type=_non_negative_float, help="writer max_delay (ms)")
    parser.add_argument(
        "--scenarios",
        action="append",
        metavar="NAMES",
        help="comma-separated scenarios to run (default: all); may be repeated",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-out"), help="where the JSON and PNG go"
    )
    parser.add_argument("--seed", type=int, help="the random walk's seed")
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        help="runs per throughput figure (best is kept); pairs of tradebus vs ceiling",
    )
    parser.add_argument("--naive-ticks", type=_positive_int, help="ticks of the naive scenario")
    parser.add_argument(
        "--seconds",
        type=_positive_float,
        help="how long the processes of shared-file/three-files write, and each paced rate",
    )
    parser.add_argument(
        "--rates", type=_rates, help="offered rates of the latency scenario, e.g. 10000,50000"
    )
    parser.add_argument(
        "--reader-rate",
        type=_non_negative_int,
        help="queries/s of the read-under-write reader (default 1000; 0: as fast as it can)",
    )
    parser.add_argument(
        "--bus-pairs", type=_positive_int, help="pairs of the bus scenario (default 7)"
    )
    parser.add_argument(
        "--lone-calls", type=_positive_int, help="calls of the lone-call scenario (default 200)"
    )
    parser.add_argument(
        "--overload-buffer",
        type=_positive_int,
        help="the writer's max_buffer in the overload scenario (default 100000)",
    )
    parser.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    parser.add_argument("--keep", action="store_true", help="keep the databases in --out")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is missed"
    )
    return parser


def _scenarios(parser: argparse.ArgumentParser, values: Sequence[str] | None) -> tuple[str, ...]:
    if not values:
        return SCENARIOS
    chosen = {name.strip() for value in values for name in value.split(",") if name.strip()}
    if not chosen:
        parser.error(f"--scenarios names none; choose from {', '.join(SCENARIOS)}")
    unknown = sorted(chosen - set(SCENARIOS))
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return tuple(name for name in SCENARIOS if name in chosen)


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> BenchConfig:
    """The preset the flags choose, with every explicit flag applied over it."""
    overrides: dict[str, Any] = {
        "scenarios": _scenarios(parser, args.scenarios),
        "plot": not args.no_plot,
        "keep": args.keep,
    }
    for flag, field in (
        ("ticks", "ticks"),
        ("symbols", "symbols"),
        ("batch", "max_batch"),
        ("seed", "seed"),
        ("repeat", "repeat"),
        ("naive_ticks", "naive_ticks"),
        ("rates", "latency_rates"),
        ("reader_rate", "reader_rate"),
        ("bus_pairs", "bus_pairs"),
        ("lone_calls", "lone_calls"),
        ("overload_buffer", "overload_buffer"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[field] = value
    if args.delay_ms is not None:
        overrides["max_delay"] = args.delay_ms / 1000
    if args.seconds is not None:
        overrides["seconds"] = args.seconds
        overrides["latency_seconds"] = args.seconds
    return BenchConfig.preset(quick=args.quick, out=args.out, **overrides)


def main(argv: list[str] | None = None, *, prog: str = "python -m bench") -> int:
    """Run the benchmark as the command line ``argv`` says; return the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    config = config_from_args(parser, args)
    console = Console()
    if not console.is_terminal:  # a file or a pipe: wide enough for the notes column
        console = Console(width=160)
    report = anyio.run(run_bench, config, console, backend="asyncio")
    console.print(f"results: {report.json_path}")
    if report.plot_path is not None:
        console.print(f"plot:    {report.plot_path}")
    if args.check and any(target.passed is False for target in report.targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
