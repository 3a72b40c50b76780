"""The switch-interval scenario: the process's interval survives every run, or it fails."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench import _switch
from bench._config import BenchConfig
from bench._context import Context
from bench._ingest import IngestRun
from bench._sched import thread_cpu_clock
from bench._switch import SwitchIntervalLeak, checked_run
from bench._ticks import make_ticks, tick_rows


def _context(tmp_path: Path, ticks: int = 300) -> Context:
    made = make_ticks(ticks, 24, 7)
    config = BenchConfig.preset(quick=True, out=tmp_path, repeat=1)
    return Context(config=config, workdir=tmp_path, ticks=made, rows=tick_rows(made))


def _ran_at(switch_interval: float) -> IngestRun:
    """What checked_run reads of a run: the interval in force while the writer ran."""
    return cast(IngestRun, SimpleNamespace(switch_interval=switch_interval))


@pytest.fixture(autouse=True)
def _restore_interval() -> Iterator[None]:
    """The process's interval, put back after each test whatever the test did."""
    saved = sys.getswitchinterval()
    yield
    sys.setswitchinterval(saved)


@pytest.mark.parametrize("setting", ["default", "none"])
async def test_a_run_leaves_the_interval_as_it_found_it(tmp_path: Path, setting: str) -> None:
    sys.setswitchinterval(0.004)  # not CPython's default: restored, not reset
    run = await checked_run(_context(tmp_path), setting, None)
    assert sys.getswitchinterval() == 0.004
    assert run.ticks == 300
    if setting == "none":
        assert run.switch_interval == 0.004
    else:
        assert run.switch_interval < 0.004  # the writer shortened it while it ran
    assert run.sqlite_cpu_seconds is not None  # Linux has per-thread CPU clocks
    assert run.sqlite_cpu_seconds >= 0


async def test_a_run_that_leaks_its_interval_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def leaking_ingest(*args: Any, **kwargs: Any) -> IngestRun:
        sys.setswitchinterval(0.001)
        return _ran_at(0.001)

    monkeypatch.setattr(_switch, "ingest_tradebus", leaking_ingest)
    sys.setswitchinterval(0.005)
    with pytest.raises(SwitchIntervalLeak, match=r"5 ms before .* 1 ms after"):
        await checked_run(_context(tmp_path, 10), "default", None)


async def test_a_writer_told_none_that_changes_the_interval_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def shortening_ingest(*args: Any, **kwargs: Any) -> IngestRun:
        assert kwargs["writer_options"] == {"switch_interval": None}
        return _ran_at(0.0005)  # shortened while it ran, put back after

    monkeypatch.setattr(_switch, "ingest_tradebus", shortening_ingest)
    sys.setswitchinterval(0.005)
    with pytest.raises(SwitchIntervalLeak, match=r"switch_interval=None ran at 0.5 ms"):
        await checked_run(_context(tmp_path, 10), "none", None)


def test_a_thread_cpu_clock_needs_exactly_one_live_thread_of_that_name() -> None:
    assert thread_cpu_clock("no thread is called this") is None
    clock = thread_cpu_clock("MainThread")
    assert clock is not None
    assert clock() > 0
