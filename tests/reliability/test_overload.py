"""Producers offering ten times what the writer commits: bounded memory, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from ._helpers import count, script

_SMALL = 500
_LARGE = 50_000
#: What one buffered tick may cost at most, in the writer's and the follower's buffer
#: together (they share the message); measured at about 0.45 KiB.
_KIB_PER_BUFFERED = 1
#: Peak RSS growth allowed whatever the buffers (SQLite's page cache, allocator slack).
_SLACK_KIB = 8 * 1024


async def overload(data: Path, max_buffer: int, seconds: float) -> dict[str, Any]:
    done = await anyio.run_process(
        [*script("overload_worker.py"), str(data), str(max_buffer), str(seconds)], check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def check_nothing_lost(result: dict[str, Any], data: Path) -> None:
    published = result["published"]
    warm_up = 2_000
    # block subscriptions: the writer stored every tick, the follower received every one.
    assert result["stored"] == published
    assert count(data / "unified_tick_pipeline.db", "unified_ticks") == published + warm_up
    assert result["follower_received"] == published + warm_up
    assert result["follower_dropped"] == 0
    # drop_oldest: every tick is either received, dropped (and counted) or still buffered.
    assert result["ui_dropped"] > 0
    assert result["ui_counted"] == result["ui_received"]
    assert (
        result["ui_received"] + result["ui_dropped"] + result["ui_buffered"]
        == result["ui_delivered"]
        == published + warm_up
    )


async def test_overload_slows_publishers_bounds_memory_and_loses_nothing(tmp_path: Path) -> None:
    small = await overload(tmp_path / "small", _SMALL, 2.0)
    large = await overload(tmp_path / "large", _LARGE, 2.0)
    for result, name in ((small, "small"), (large, "large")):
        check_nothing_lost(result, tmp_path / name)
    # The producers could offer ten times what the writer committed...
    assert small["capacity_per_s"] > 10 * small["committed_per_s"], small
    # ... so they were held back: refused by publish_nowait, waiting in publish for most
    # of the time, with a block subscription's buffer (the writer's or the follower's)
    # full.
    assert small["refused"] > 0
    assert small["waited_s"] > 0.5 * small["seconds"]
    assert small["block_high_water"] == _SMALL
    assert small["published"] > 10 * _SMALL
    assert large["writer_high_water"] > _LARGE // 2, large  # the large buffer filled up too
    # Memory follows the configured buffers, not the offered load.
    small_growth = small["rss_after_kb"] - small["rss_before_kb"]
    large_growth = large["rss_after_kb"] - large["rss_before_kb"]
    assert small_growth < _SLACK_KIB + _SMALL * _KIB_PER_BUFFERED, small
    assert large_growth < _SLACK_KIB + _LARGE * _KIB_PER_BUFFERED, large
    assert large_growth > small_growth, (small, large)
