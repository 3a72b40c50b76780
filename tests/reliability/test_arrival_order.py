"""Events arriving out of order (before their execution, permuted, replayed, in batches
cut anywhere, with clocks that disagree): a position and a recommendation end the same
whatever the order.

Each test checks what a user reads back: positions, recommendations, their history
tables, and dead letters with the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

import schemas
from eventbus import EventBus, NotStored
from schemas import (
    PositionUpdate,
    RecommendationUpdate,
    TradeExecution,
    TradeRecommendation,
    new_event_id,
)
from tests.writers._helpers import count, execution, position_update, query, running_writer
from writers import ANALYSIS, MAIN, RECOMMENDATION_STAGES

from ._helpers import README_RECOMMENDATION as _RECOMMENDATION
from ._helpers import SOAK
from ._helpers import T0 as _T

_EXAMPLES = 300 if SOAK else 40


async def test_updates_and_a_close_before_their_execution_give_a_complete_closed_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    opened = execution(1, ts=_T)
    modify = position_update(1, ts=_T + 1, current_price=50_100.0, stop_loss=49_900.0)
    close = position_update(1, ts=_T + 2, status="closed", current_price=50_200.0,
                            close_price=50_200.0, realized_pnl=2.0)  # fmt: skip
    async with running_writer(path, MAIN) as (bus, _):
        for event in (close, modify, opened):  # delivered in reverse, one by one
            bus.publish_nowait(event)
            await bus.flush()
        bus.publish_nowait(modify)  # then an older modify, replayed
        await bus.flush()
    assert query(
        path,
        "SELECT direction, status, entry_price, current_price, volume, stop_loss, close_price, "
        "realized_pnl, opened_ts, closed_ts, event_id FROM trade_positions",
    ) == [
        ("BUY", "closed", 50_000.0, 50_200.0, 0.01, 49_500.0, 50_200.0, 2.0, _T, _T + 2,
         close.event_id)
    ]  # fmt: skip
    assert count(path, "position_updates") == 2
    assert count(path, "dead_letters") == 0


RecommendationStatus = Literal["pending", "executed", "rejected", "expired", "closed"]
_KEPT = ("volume", "stop_loss", "take_profit", "unrealized_pnl")


@st.composite
def _lifecycles(draw: st.DrawFn) -> tuple[list[Any], list[bool], bool]:
    """A position's events in an arrival order (with a few identical replays), where
    batches end, and whether the closes (none, one, or two racing) arrive last."""
    made: list[Any] = [execution(1, ts=draw(st.integers(0, 10**6)))]
    closing_at = draw(st.lists(st.integers(0, 5), max_size=2, unique=True))
    for n in range(draw(st.integers(0, 5)) + 1):
        ts = draw(st.integers(0, 10**6))  # wall clocks that disagree, or step back
        if n in closing_at:
            price = 50_500.0 + n  # racing closes of other prices and P&L
            close = position_update(1, ts=ts, status="closed", current_price=price,
                                    close_price=price, realized_pnl=price - 50_000.0)  # fmt: skip
            made.append(close)
            continue
        fields: dict[str, Any] = {
            c: draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0]))) for c in _KEPT
        }
        price = draw(st.sampled_from([50_100.0, 50_200.0]))
        made.append(PositionUpdate(ticket=1, symbol="BTCUSDT", status="modified",
                                   current_price=price, ts=ts, **fields))  # fmt: skip
    arrival = draw(st.permutations(made))
    close_last = draw(st.booleans())
    if close_last:
        closes = [e for e in arrival if isinstance(e, PositionUpdate) and e.status == "closed"]
        arrival = [e for e in arrival if e not in closes] + closes
    for replay in draw(st.lists(st.sampled_from(made), max_size=3)):
        if not (close_last and isinstance(replay, PositionUpdate) and replay.status == "closed"):
            arrival.insert(draw(st.integers(0, len(arrival))), replay)  # a no-op
    cuts = [draw(st.booleans()) for _ in arrival]
    return arrival, cuts, close_last


def _event_id(event: Any) -> str:
    return str(event.event_id)


def _first_close(arrival: list[Any]) -> Any:
    """The close that arrives first (it is stored; any other close is refused), or None."""
    closes = (e for e in arrival if isinstance(e, PositionUpdate) and e.status == "closed")
    return next(closes, None)


def _expected(events: list[Any], close_last: bool) -> dict[str, Any]:
    """The position the events make, whatever their arrival order: modifies in
    event_id order, and the close that arrived first."""
    [opened] = {e for e in events if isinstance(e, TradeExecution)}
    updates = sorted({e for e in events if isinstance(e, PositionUpdate)}, key=_event_id)
    first_close = _first_close(events)
    closes = [] if first_close is None else [first_close]
    modifies = [u for u in updates if u.status != "closed"]
    if closes and not close_last:  # a close is final: its own values, at least
        close = closes[0]
        return {"status": "closed", "current_price": close.current_price,
                "close_price": close.close_price, "realized_pnl": close.realized_pnl,
                "closed_ts": close.ts, "unrealized_pnl": None,
                "event_id": close.event_id}  # fmt: skip
    state: dict[str, Any] = {
        "status": "open", "current_price": opened.entry_price, "volume": opened.volume,
        "stop_loss": opened.stop_loss, "take_profit": opened.take_profit,
        "unrealized_pnl": None, "close_price": None, "realized_pnl": None, "closed_ts": None,
        "ts": opened.ts, "event_id": opened.event_id, "direction": opened.direction,
        "entry_price": opened.entry_price, "opened_ts": opened.ts,
    }  # fmt: skip
    for update in modifies + closes:  # the closes, if any, are the last to arrive
        state.update(status=update.status, current_price=update.current_price, ts=update.ts,
                     event_id=update.event_id)  # fmt: skip
        for column in _KEPT:
            if getattr(update, column) is not None:
                state[column] = getattr(update, column)
    if closes:
        state.update(close_price=closes[0].close_price, realized_pnl=closes[0].realized_pnl,
                     closed_ts=closes[0].ts, unrealized_pnl=None)  # fmt: skip
    return state


@settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_lifecycles())
async def test_a_position_ends_the_same_in_any_arrival_order(
    lifecycle: tuple[list[Any], list[bool], bool],
) -> None:
    arrival, cuts, close_last = lifecycle
    expected = _expected(arrival, close_last)
    first_close = _first_close(arrival)
    refused = [  # every arrival of a close other than the first to arrive
        e
        for e in arrival
        if isinstance(e, PositionUpdate) and e.status == "closed" and e != first_close
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / MAIN.filename
        reported = 0  # the events the flushes said were not stored
        async with running_writer(path, MAIN) as (bus, _):
            for event, cut in zip(arrival, cuts, strict=True):
                bus.publish_nowait(event)
                if cut:
                    reported += await _flush(bus)
            reported += await _flush(bus)
        columns = ", ".join(expected)
        [row] = query(path, f"SELECT {columns} FROM trade_positions")
        assert dict(zip(expected, row, strict=True)) == expected
        letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert [data for data, _ in letters] == [schemas.encode(e) for e in refused]
    assert all("closed before by another close" in error for _, error in letters)
    assert reported == len(refused)


async def _flush(bus: EventBus) -> int:
    """Flush ``bus``; return how many events the flush reported not stored."""
    try:
        await bus.flush()
    except NotStored as refused:
        return 1 + refused.more
    return 0


def test_event_ids_made_in_order_sort_in_order() -> None:
    # What the order of updates rests on: ids of one process sort as they were made.
    ids = [new_event_id() for _ in range(10_000)]
    assert sorted(ids) == ids


_STATUSES: list[RecommendationStatus] = ["pending", "rejected", "expired", "executed", "closed"]


@st.composite
def _recommendation_lives(draw: st.DrawFn) -> tuple[list[Any], list[bool]]:
    """A recommendation and its updates (any statuses, clocks), in an arrival order,
    and where batches end."""
    rec = TradeRecommendation(recommendation_id="rec-1", **_RECOMMENDATION, ts=0)
    statuses = st.sampled_from(_STATUSES)
    updates = [
        RecommendationUpdate(recommendation_id="rec-1", status=draw(statuses),
                             ts=draw(st.integers(0, 10**6)))
        for _ in range(draw(st.integers(0, 6)))
    ]  # fmt: skip
    arrival: list[Any] = draw(st.permutations([rec, *updates]))
    for replay in draw(st.lists(st.sampled_from(arrival), max_size=2)):
        arrival.insert(draw(st.integers(0, len(arrival))), replay)
    return arrival, [draw(st.booleans()) for _ in arrival]


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_recommendation_lives())
async def test_a_recommendation_ends_the_same_in_any_arrival_order(
    life: tuple[list[Any], list[bool]],
) -> None:
    arrival, cuts = life  # drawn up front: nothing is drawn while the writer runs
    updates = {e for e in arrival if isinstance(e, RecommendationUpdate)}
    # The furthest stage; in it the latest update, but the first close to arrive (any
    # other close is refused, each time it arrives).
    arriving = [e for e in arrival if isinstance(e, RecommendationUpdate)]
    closes = [u for u in arriving if u.status == "closed"]
    refused = [u for u in closes if u != closes[0]]
    expected = [("pending", "")]
    if closes:
        expected = [(closes[0].status, closes[0].event_id)]
    elif updates:
        last = max(updates, key=lambda u: (RECOMMENDATION_STAGES[u.status], u.event_id))
        expected = [(last.status, last.event_id)]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ANALYSIS.filename
        reported = 0
        async with running_writer(path, ANALYSIS) as (bus, _):
            for event, cut in zip(arrival, cuts, strict=True):
                bus.publish_nowait(event)
                if cut:
                    reported += await _flush(bus)
            reported += await _flush(bus)
        stored = query(path, "SELECT status, updated_event_id FROM trade_recommendations")
        letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert stored == expected
    assert [data for data, _ in letters] == [schemas.encode(e) for e in refused]
    assert all("closed before by another update" in error for _, error in letters)
    assert reported == len(refused)
