"""Attacks on the state the writers derive: replays, repeats, reuse, disorder, big batches.

Each test checks what a user reads back: positions, recommendations, their history
tables, and dead letters with the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import anyio
import hypothesis.strategies as st
import msgspec
import pytest
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
from tradebus import open_node
from writers import ANALYSIS, MAIN, RECOMMENDATION_STAGES

from ._helpers import SOAK

_EXAMPLES = 300 if SOAK else 40
_T = 1_700_000_000_000_000_000

_RECOMMENDATION: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "direction": "BUY",
    "entry_price": 50_000.0,
    "stop_loss": 49_500.0,
    "take_profit": 51_000.0,
    "confidence": 85.0,
    "reasoning": "Strong bullish momentum",
    "timeframe": "H1",
}
_EXECUTION: dict[str, Any] = {
    "ticket": 12_345,
    "symbol": "BTCUSDT",
    "direction": "BUY",
    "entry_price": 50_000.0,
    "volume": 0.01,
    "stop_loss": 49_500.0,
    "take_profit": 51_000.0,
}


async def test_a_recommendation_logged_twice_with_its_content_is_stored_once(
    tmp_path: Path,
) -> None:
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        first = await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        again = await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        assert first == again == "rec-1"
    analysis = tmp_path / ANALYSIS.filename
    assert query(
        analysis, "SELECT recommendation_id, confidence, status FROM trade_recommendations"
    ) == [("rec-1", 85.0, "pending")]
    assert count(analysis, "dead_letters") == 0


async def test_an_execution_logged_twice_opens_one_position(tmp_path: Path) -> None:
    # A retry after a lost answer: the same trade, a new event_id and ts.
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        await agent.log_trade_recommendation(recommendation_id="rec-1", **_RECOMMENDATION)
        bot = node.integration("chatgpt_bot")
        first = await bot.log_trade_execution(recommendation_id="rec-1", **_EXECUTION)
        retry = await bot.log_trade_execution(recommendation_id="rec-1", **_EXECUTION)
        assert retry == first  # the stored execution, replayed
    main = tmp_path / MAIN.filename
    assert query(main, "SELECT ticket, event_id FROM trade_executions") == [(12_345, first)]
    assert query(main, "SELECT ticket, status, volume, event_id FROM trade_positions") == [
        (12_345, "open", 0.01, first)
    ]
    analysis = tmp_path / ANALYSIS.filename
    assert query(analysis, "SELECT status, ticket FROM trade_recommendations") == [
        ("executed", 12_345)
    ]
    for database in (main, analysis):
        assert count(database, "dead_letters") == 0


async def _race(bus: EventBus, *events: Any) -> list[NotStored | None]:
    """Publish ``events`` at once, each awaited (``wait=True``) by a caller of its own;
    return what each caller was told: None (stored) or the NotStored it raised."""
    told: list[NotStored | None] = [None] * len(events)

    async def call(n: int) -> None:
        try:
            await bus.publish(events[n], wait=True)
        except NotStored as refused:
            told[n] = refused

    async with anyio.create_task_group() as tg:
        for n in range(len(events)):
            tg.start_soon(call, n)
    return told


async def test_of_two_racing_closes_one_is_stored_and_the_other_caller_told(
    tmp_path: Path,
) -> None:
    # Both passed the call's checks (neither was committed yet): other event_ids,
    # other P&L. The caller whose close is not the one stored must not be told it was.
    path = tmp_path / MAIN.filename
    closes = [
        position_update(1, ts=_T + n, status="closed", current_price=price, close_price=price,
                        realized_pnl=price - 50_000.0)
        for n, price in enumerate((50_100.0, 50_900.0))
    ]  # fmt: skip
    async with running_writer(path, MAIN) as (bus, _):
        await bus.publish(execution(1, ts=_T), wait=True)
        with anyio.fail_after(10):
            told = await _race(bus, *closes)
    [(stored, refused)] = [(closes[n], closes[1 - n]) for n in (0, 1) if told[n] is None]
    error = told[closes.index(refused)]
    assert isinstance(error, NotStored)
    assert "ticket was closed before by another close" in error.reason
    assert query(
        path, "SELECT status, close_price, realized_pnl, event_id FROM trade_positions"
    ) == [("closed", stored.close_price, stored.realized_pnl, stored.event_id)]
    assert query(path, "SELECT event_id FROM position_updates") == [(stored.event_id,)]
    assert query(path, "SELECT seq, data FROM dead_letters") == [
        (error.seq, schemas.encode(refused))
    ]


async def test_of_two_racing_identical_executions_one_is_stored_and_the_other_caller_told(
    tmp_path: Path,
) -> None:
    # The same trade twice at once under two event_ids: one event_id is stored, the
    # other caller is told its event_id is not (an acknowledged id is a stored id).
    path = tmp_path / MAIN.filename
    first = TradeExecution(**_EXECUTION, ts=_T)
    twin = msgspec.structs.replace(first, event_id=new_event_id())
    async with running_writer(path, MAIN) as (bus, _):
        with anyio.fail_after(10):
            told = await _race(bus, first, twin)
    [(stored, refused)] = [
        (event, other) for event, other, said in ((first, twin, told[0]), (twin, first, told[1]))
        if said is None
    ]  # fmt: skip
    error = told[(first, twin).index(refused)]
    assert isinstance(error, NotStored)
    assert "ticket was opened before by another execution (another event_id)" in error.reason
    assert query(path, "SELECT event_id FROM trade_executions") == [(stored.event_id,)]
    assert query(path, "SELECT event_id, volume FROM trade_positions") == [(stored.event_id, 0.01)]
    assert query(path, "SELECT seq, data FROM dead_letters") == [
        (error.seq, schemas.encode(refused))
    ]


async def test_of_two_racing_recommendations_with_one_id_one_is_stored_and_the_other_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / ANALYSIS.filename
    first = TradeRecommendation(recommendation_id="rec-1", **_RECOMMENDATION, ts=_T)
    twin = msgspec.structs.replace(first, event_id=new_event_id())
    async with running_writer(path, ANALYSIS) as (bus, _):
        with anyio.fail_after(10):
            told = await _race(bus, first, twin)
    [(stored, refused)] = [
        (event, other) for event, other, said in ((first, twin, told[0]), (twin, first, told[1]))
        if said is None
    ]  # fmt: skip
    error = told[(first, twin).index(refused)]
    assert isinstance(error, NotStored)
    assert "recommendation_id was stored before by another event" in error.reason
    assert query(path, "SELECT event_id FROM trade_recommendations") == [(stored.event_id,)]
    assert query(path, "SELECT seq, data FROM dead_letters") == [
        (error.seq, schemas.encode(refused))
    ]


async def test_nulls_compare_as_values_in_a_replay(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    bare = TradeExecution(**{**_EXECUTION, "stop_loss": None, "take_profit": None}, ts=_T)
    with_stop = msgspec.structs.replace(bare, stop_loss=49_000.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(bare)
        await bus.flush()
        bus.publish_nowait(bare)  # NULL IS NULL: the same content
        bus.publish_nowait(with_stop)  # NULL vs a value: other content
        with pytest.raises(NotStored, match="another stop_loss"):
            await bus.flush()
    assert query(path, "SELECT stop_loss, take_profit FROM trade_executions") == [(None, None)]
    assert query(path, "SELECT stop_loss FROM trade_positions") == [(None,)]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(with_stop)
    assert "event_id was stored before with another stop_loss" in error


async def test_floats_are_compared_exactly_as_stored(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    update = position_update(1, ts=_T, current_price=0.1 * 3)
    same = msgspec.structs.replace(update, current_price=0.30000000000000004)
    rounded = msgspec.structs.replace(update, current_price=0.3)
    async with running_writer(path, MAIN) as (bus, _):
        for event in (update, same, rounded):
            bus.publish_nowait(event)
        with pytest.raises(NotStored, match="another current_price") as info:
            await bus.flush()
        assert info.value.seq == 3  # the rounded one, alone
    assert query(path, "SELECT current_price FROM position_updates") == [(0.1 * 3,)]
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(rounded),)]


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


async def test_a_big_batch_with_replays_and_one_forgery_keeps_every_lifecycle(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    events: list[Any] = []
    for ticket in range(1, 31):
        events.append(execution(ticket, ts=_T))
        events.extend(
            position_update(ticket, ts=_T + n, current_price=50_000.0 + n, unrealized_pnl=n / 100)
            for n in range(1, 51)
        )
        events.append(position_update(ticket, ts=_T + 51, status="closed", current_price=50_051.0,
                                      close_price=50_051.0, realized_pnl=0.51))  # fmt: skip
    forged = msgspec.structs.replace(events[100], volume=1_000.0, realized_pnl=-1e9)
    batch = []
    for n, event in enumerate(events):
        batch.append(event)
        if n % 7 == 0:
            batch.append(event)  # an identical replay in the same batch
    batch.insert(1_000, forged)  # long after the original
    async with running_writer(path, MAIN, max_batch=10_000, max_delay=0.5) as (bus, actor):
        for event in batch:
            bus.publish_nowait(event)
        with pytest.raises(NotStored, match="another volume") as info:
            await bus.flush()
        assert info.value.more == 0  # the forgery, alone
        assert actor.statistics().dead_letters == 1
    assert query(
        path, "SELECT count(*), min(status), max(status), min(realized_pnl), max(realized_pnl), "
        "max(volume) FROM trade_positions"
    ) == [(30, "closed", "closed", 0.51, 0.51, 0.01)]  # fmt: skip
    assert count(path, "trade_executions") == 30
    assert count(path, "position_updates") == 30 * 51
    assert query(path, "SELECT data FROM dead_letters") == [(schemas.encode(forged),)]


# ---------------------------------------------------------------- arrival orders

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
