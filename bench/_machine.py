"""What machine a run was measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["busy_warning", "machine_info"]


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def busy_warning() -> str | None:
    """A warning if other work keeps this machine's CPUs busy (figures will be noisy)."""
    load = _load_average()
    cpus = os.cpu_count() or 1
    if load is None or load[0] < 0.5 * cpus:
        return None
    return (
        f"the machine is busy (load average {load[0]:.1f} on {cpus} CPUs): figures will be "
        "noisy; the paired ratios resist it best"
    )


def machine_info() -> dict[str, Any]:
    """CPU, memory, OS, Python, SQLite and the versions of the packages on the path."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": _load_average(),
        "packages": {
            name: _version(name) for name in ("tradebus", "anyio", "aiosqlite", "msgspec")
        },
    }
