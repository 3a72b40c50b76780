"""A recommendation's row as its updates make it, in any order of arrival: changed in
place with every update kept, an earlier stage never undoing a later one, a close
final (the first stored holds), an expired one still able to execute; its
recommendation_id stored once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import RecommendationUpdate, new_event_id
from writers import ANALYSIS

from ._helpers import SECOND_NS as _SECOND
from ._helpers import WALL_CLOCK_NS as _T
from ._helpers import count, query, recommendation, running_writer


async def test_recommendation_updates_change_it_in_place_and_are_kept(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        await bus.flush()
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="executed",
                                                ticket=12345, ts=200))  # fmt: skip
        await bus.flush()
        closed = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="win",
                                      realized_pnl=10.0, ts=300)  # fmt: skip
        bus.publish_nowait(closed)
        bus.publish_nowait(closed)  # a replay changes nothing
        await bus.flush()
    assert query(
        path,
        "SELECT recommendation_id, status, ticket, outcome, realized_pnl, updated_ts "
        "FROM trade_recommendations",
    ) == [(rid, "closed", 12345, "win", 10.0, 300)]
    assert query(path, "SELECT status, ticket, ts FROM recommendation_updates ORDER BY ts") == [
        ("executed", 12345, 200),
        ("closed", None, 300),
    ]


async def test_a_recommendation_arriving_after_its_update_takes_the_update(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    update = RecommendationUpdate(
        recommendation_id=rec.recommendation_id, status="executed", ticket=7, ts=200
    )
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(update)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(path, "SELECT status, ticket, updated_ts FROM trade_recommendations") == [
        ("executed", 7, 200)
    ]
    assert count(path, "recommendation_updates") == 1


async def test_a_recommendation_update_of_an_earlier_stage_does_not_undo_a_later_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(
            RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=300)
        )
        await bus.flush()
        # Made later, stamped later: a timer's expiry and a stale "pending".
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="expired", ts=400))
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="pending", ts=500))
        await bus.flush()
    assert query(path, "SELECT status, ticket, updated_ts FROM trade_recommendations") == [
        ("executed", 7, 300)
    ]
    assert count(path, "recommendation_updates") == 3


async def test_a_recommendation_closed_with_an_earlier_clock_is_closed(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(
            RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=_T)
        )
        await bus.flush()
        bus.publish_nowait(RecommendationUpdate(recommendation_id=rid, status="closed",
                                                outcome="win", realized_pnl=2.0,
                                                ts=_T - 2 * _SECOND))  # fmt: skip
        await bus.flush()
    assert query(
        path, "SELECT status, ticket, outcome, realized_pnl FROM trade_recommendations"
    ) == [("closed", 7, "win", 2.0)]


async def test_of_two_closes_of_a_recommendation_the_first_stored_holds(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    made_first, made_second = new_event_id(), new_event_id()
    loss = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="loss",
                                realized_pnl=-3.0, ts=_T, event_id=made_second)  # fmt: skip
    win = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="win",
                               realized_pnl=2.0, ts=_T, event_id=made_first)  # fmt: skip
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(loss)  # arrives first, made second
        bus.publish_nowait(loss)  # replayed unchanged: a no-op
        await bus.flush()
        seq = bus.publish_nowait(win)
        with pytest.raises(NotStored, match="closed before by another update") as refused:
            await bus.flush()
    assert query(
        path, "SELECT status, outcome, realized_pnl, updated_event_id FROM trade_recommendations"
    ) == [("closed", "loss", -3.0, made_second)]
    assert query(path, "SELECT event_id FROM recommendation_updates") == [(made_second,)]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(win)
    assert error == (
        "IntegrityError: recommendation_updates: this recommendation was closed before by "
        "another update (another event_id); a recommendation closes once: a retry must repeat "
        "the close under its event_id"
    )
    assert (refused.value.seq, refused.value.more) == (seq, 0)


async def test_a_closed_recommendation_is_never_reopened_but_an_expired_one_may_execute(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    ends: tuple[Literal["rejected", "expired", "closed"], ...] = ("rejected", "expired", "closed")
    recs = {status: recommendation() for status in ends}
    async with running_writer(path, ANALYSIS) as (bus, _):
        for status, rec in recs.items():
            bus.publish_nowait(rec)
            bus.publish_nowait(RecommendationUpdate(recommendation_id=rec.recommendation_id,
                                                    status=status, ts=_T))  # fmt: skip
        await bus.flush()
        for rec in recs.values():  # later by every measure
            laters: tuple[Literal["pending", "executed", "expired"], ...]
            laters = ("pending", "executed", "expired")
            for later in laters:
                rid = rec.recommendation_id
                update = RecommendationUpdate(
                    recommendation_id=rid, status=later, ticket=9, ts=_T + 1
                )
                bus.publish_nowait(update)
        await bus.flush()
    assert query(
        path, "SELECT recommendation_id, status, ticket, updated_ts FROM trade_recommendations"
    ) == [
        (recs["rejected"].recommendation_id, "executed", 9, _T + 1),  # the trade exists
        (recs["expired"].recommendation_id, "executed", 9, _T + 1),
        (recs["closed"].recommendation_id, "closed", None, _T),  # final
    ]
    assert count(path, "recommendation_updates") == 12


async def test_a_recommendation_arriving_after_its_updates_takes_their_final_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    rid = rec.recommendation_id
    executed = RecommendationUpdate(recommendation_id=rid, status="executed", ticket=7, ts=_T)
    closed = RecommendationUpdate(recommendation_id=rid, status="closed", outcome="loss",
                                  realized_pnl=-3.0, ts=_T - _SECOND)  # fmt: skip
    pending = RecommendationUpdate(recommendation_id=rid, status="pending", ts=_T + _SECOND)
    async with running_writer(path, ANALYSIS) as (bus, _):
        for update in (pending, closed, executed):
            bus.publish_nowait(update)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(
        path,
        "SELECT status, ticket, outcome, realized_pnl, updated_ts FROM trade_recommendations",
    ) == [("closed", 7, "loss", -3.0, _T - _SECOND)]


_REUSED_RECOMMENDATION_ID = (
    "IntegrityError: trade_recommendations: this recommendation_id was stored before by "
    "another event (another event_id); a recommendation is logged once: a retry must repeat "
    "it under its event_id, a change is a recommendation update, a new recommendation needs "
    "a recommendation_id of its own"
)


@pytest.mark.parametrize("content", ["the same", "another entry_price"])
async def test_a_recommendation_id_stored_under_another_event_id_is_refused(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation("rec-1")
    repeat = msgspec.structs.replace(recommendation("rec-1"), ts=rec.ts)  # a new event_id
    if content != "the same":
        repeat = msgspec.structs.replace(repeat, entry_price=50_001.0)
    async with running_writer(path, ANALYSIS) as (bus, actor):
        bus.publish_nowait(rec)
        bus.publish_nowait(RecommendationUpdate(recommendation_id="rec-1", status="executed",
                                                ticket=7, ts=_T))  # fmt: skip
        bus.publish_nowait(rec)  # a replay: a no-op
        await bus.flush()
        assert actor.statistics().dead_letters == 0
        seq = bus.publish_nowait(repeat)
        with pytest.raises(NotStored, match="recommendation_id was stored before") as refused:
            await bus.flush()
    stored = "SELECT recommendation_id, status, ticket, ts, event_id FROM trade_recommendations"
    assert query(path, stored) == [("rec-1", "executed", 7, 100, rec.event_id)]
    assert query(path, "SELECT data, error FROM dead_letters") == [
        (schemas.encode(repeat), _REUSED_RECOMMENDATION_ID)
    ]
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeRecommendation",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {_REUSED_RECOMMENDATION_ID}"
