"""An event is stored once under its event_id: published twice, replayed later or
after a restart it is a no-op; replayed with other content it is refused (to
dead_letters, with a NotStored) and changes nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import (
    AnalysisResult,
    ApiLog,
    Event,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)
from tests.schemas._samples import sample_events
from writers import ANALYSIS, LOGS, MAIN, SPECS

from ._helpers import (
    TABLES,
    count,
    execution,
    position_update,
    query,
    recommendation,
    running_writer,
)
from ._helpers import WALL_CLOCK_NS as _T
from ._helpers import closing_update as _close


async def test_an_execution_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    event = execution(12345)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(event)
        bus.publish_nowait(event)  # in the same batch
        await bus.flush()
        bus.publish_nowait(event)  # replayed later, in another batch
        await bus.flush()
    assert query(path, "SELECT ticket, event_id FROM trade_executions") == [(12345, event.event_id)]
    assert count(path, "trade_positions") == 1
    assert count(path, "dead_letters") == 0  # the replays were no errors either


async def test_a_recommendation_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / ANALYSIS.filename
    rec = recommendation()
    async with running_writer(path, ANALYSIS) as (bus, _):
        bus.publish_nowait(rec)
        bus.publish_nowait(rec)
        await bus.flush()
        bus.publish_nowait(rec)
        await bus.flush()
    assert query(path, "SELECT recommendation_id, event_id FROM trade_recommendations") == [
        (rec.recommendation_id, rec.event_id)
    ]
    assert count(path, "dead_letters") == 0


async def test_an_alert_published_twice_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / LOGS.filename
    alert = TradeAlert(alert_type="risk", severity="critical", message="drawdown 5%")
    async with running_writer(path, LOGS) as (bus, _):
        bus.publish_nowait(alert)
        await bus.flush()
    async with running_writer(path, LOGS) as (bus, _):  # a replay after a restart
        bus.publish_nowait(alert)
        bus.publish_nowait(alert)
        await bus.flush()
    assert query(path, "SELECT message, event_id FROM trade_alerts") == [
        ("drawdown 5%", alert.event_id)
    ]
    assert count(path, "dead_letters") == 0


async def test_a_replayed_update_with_other_content_leaves_the_position_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T + 1, current_price=50_100.0, volume=0.01,
                             unrealized_pnl=1.0)  # fmt: skip
    phantom = msgspec.structs.replace(update, volume=1_000.0, unrealized_pnl=-1e9)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(update)
        await bus.flush()
        before = query(path, "SELECT * FROM trade_positions")
        seq = bus.publish_nowait(phantom)
        bus.publish_nowait(update)  # the same content: a no-op, no error
        with pytest.raises(NotStored, match="stored before with another volume") as refused:
            await bus.flush()
        bus.publish_nowait(_close(1, ts=_T + 2, price=50_050.0, pnl=0.5))
        await bus.flush()
        bus.publish_nowait(update)  # replayed after the close: still a no-op
        await bus.flush()
    assert before == [
        (1, "BTCUSDT", "BUY", "modified", 50_000.0, 0.01, 49_500.0, 51_000.0, 50_100.0, 1.0,
         None, None, None, _T, None, _T + 1, update.event_id)
    ]  # fmt: skip
    assert query(path, "SELECT status, volume, realized_pnl FROM trade_positions") == [
        ("closed", 0.01, 0.5)
    ]
    assert query(path, "SELECT volume, unrealized_pnl FROM position_updates WHERE event_id = ?",
                 (update.event_id,)) == [(0.01, 1.0)]  # fmt: skip
    [(error,)] = query(path, "SELECT error FROM dead_letters")
    assert "event_id was stored before with another volume" in error
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "PositionUpdate",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"


# A field of each event type keyed by event_id, and another value for it.
_OTHER_CONTENT: dict[type[Event], tuple[str, object]] = {
    TradeExecution: ("volume", 1_000.0),
    PositionUpdate: ("realized_pnl", -1e9),
    TradeRecommendation: ("confidence", 1.0),
    RecommendationUpdate: ("realized_pnl", 1e9),  # still a win: the outcome agrees
    TradeAnalysis: ("indicators", {"rsi": 99.0}),
    AnalysisResult: ("symbol", None),
    TradeMonitoring: ("details", "something else"),
    TradeAlert: ("message", "something else"),
    ApiLog: ("status_code", 500),
    SystemHealth: ("status", "down"),
}


@pytest.mark.parametrize("event_type", list(_OTHER_CONTENT), ids=lambda t: t.__name__)
async def test_a_replayed_event_id_is_a_no_op_or_with_other_content_refused(
    tmp_path: Path, event_type: type[Event]
) -> None:
    [event] = [e for e in sample_events() if type(e) is event_type]
    field, value = _OTHER_CONTENT[event_type]
    other = msgspec.structs.replace(event, **{field: value})
    filename, table = TABLES[event_type]
    spec = next(spec for spec in SPECS if spec.filename == filename)
    path = tmp_path / filename
    async with running_writer(path, spec) as (bus, _):
        bus.publish_nowait(event)
        await bus.flush()
        before = {t: query(path, f"SELECT * FROM {t}") for t in spec.tables}
        bus.publish_nowait(event)
        seq = bus.publish_nowait(other)
        bus.publish_nowait(event)
        with pytest.raises(NotStored, match=f"stored before with another {field};") as refused:
            await bus.flush()
        after = {t: query(path, f"SELECT * FROM {t}") for t in spec.tables}
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(other)
    assert error == (
        f"IntegrityError: {table}: an event with this event_id was stored before with another "
        f"{field}; a replay must repeat the event unchanged, a new fact needs a new event_id"
    )
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        event_type.__name__,
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"
    assert before.pop("dead_letters") == []
    assert len(after.pop("dead_letters")) == 1
    assert after == before  # no state changed anywhere


async def test_both_copies_of_a_replay_in_one_batch_store_one(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T + 1, current_price=50_100.0)
    other = msgspec.structs.replace(update, current_price=1.0)
    async with running_writer(path, MAIN) as (bus, actor):
        seqs = [
            bus.publish_nowait(event)
            for event in (execution(1, ts=_T), update, update, other, execution(2, ts=_T))
        ]
        with pytest.raises(NotStored, match="stored before with another current_price") as refused:
            await bus.flush()
        assert actor.statistics().batches >= 1
    assert (refused.value.seq, refused.value.more) == (seqs[3], 0)
    assert query(path, "SELECT ticket, status, current_price FROM trade_positions") == [
        (1, "modified", 50_100.0),
        (2, "open", 50_000.0),
    ]
    assert query(path, "SELECT current_price FROM position_updates") == [(50_100.0,)]
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(other),)]
