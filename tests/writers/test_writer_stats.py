"""A writer's histograms: commit durations and batch sizes, per bucket."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from writers import BATCH_BUCKETS, COMMIT_BUCKETS, MAIN

from ._helpers import running_writer, tick


async def test_every_commit_counts_once_in_the_duration_and_size_histograms(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN, max_batch=5, max_delay=0.1) as (bus, actor):
        before = actor.statistics()
        for n in range(8):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
        after = actor.statistics()
    assert before.commit_buckets == (0,) * (len(COMMIT_BUCKETS) + 1)
    assert before.batch_buckets == (0,) * (len(BATCH_BUCKETS) + 1)
    # A full batch of 5, then the 3 left: both in the bucket "at most 5 events".
    assert after.batches == 2
    sizes = dict(zip((*BATCH_BUCKETS, "more"), after.batch_buckets, strict=True))
    assert sizes == {**dict.fromkeys((*BATCH_BUCKETS, "more"), 0), 5: 2}
    assert sum(after.commit_buckets) == 2
    assert after.commit_seconds > 0
    assert after.commit_seconds * 1000 == pytest.approx(after.mean_commit_ms * 2)
