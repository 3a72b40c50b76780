"""A position's row as its updates make it, in any order of arrival: one row with every
update in its history, the larger event_id wins whatever the clocks say, updates
delivered late fill in what no later one changed, a close is final and of two closes
the first stored holds."""

from __future__ import annotations

from pathlib import Path

import pytest

import schemas
from eventbus import NotStored
from schemas import PositionUpdate, new_event_id
from writers import MAIN

from ._helpers import SECOND_NS as _SECOND
from ._helpers import WALL_CLOCK_NS as _T
from ._helpers import closing_update as _close
from ._helpers import count, execution, position_update, query, running_writer


async def test_a_position_has_one_row_and_every_update_in_its_history(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        for n in range(1, 4):
            bus.publish_nowait(position_update(1, ts=100 + n, current_price=50_000.0 + n))
        await bus.flush()
    assert query(path, "SELECT ticket, status, current_price, ts FROM trade_positions") == [
        (1, "modified", 50_003.0, 103)
    ]
    assert count(path, "position_updates") == 3


async def test_an_update_with_a_smaller_event_id_never_overwrites_a_newer_one(
    tmp_path: Path,
) -> None:
    # Delivered late (out of order, or replayed): made earlier, whatever its ts says.
    path = tmp_path / MAIN.filename
    earlier, later = new_event_id(), new_event_id()
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        bus.publish_nowait(
            position_update(1, ts=200, current_price=50_300.0, stop_loss=50_100.0, event_id=later)
        )
        await bus.flush()
        bus.publish_nowait(
            position_update(1, ts=300, current_price=50_200.0, stop_loss=49_900.0, event_id=earlier)
        )
        await bus.flush()
    assert query(path, "SELECT current_price, stop_loss, ts, event_id FROM trade_positions") == [
        (50_300.0, 50_100.0, 200, later)
    ]
    assert count(path, "position_updates") == 2
    assert count(path, "dead_letters") == 0


async def test_position_updates_resolve_to_the_larger_event_id_in_any_arrival_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    ids = {ticket: (new_event_id(), new_event_id()) for ticket in (1, 2)}
    async with running_writer(path, MAIN) as (bus, _):
        # Ticket 1 gets the larger id first, ticket 2 last: both must end on it.
        for ticket, (smaller, larger) in ids.items():
            bus.publish_nowait(execution(ticket, ts=100))
            order = (larger, smaller) if ticket == 1 else (smaller, larger)
            for event_id in order:
                price = 2.0 if event_id == larger else 1.0
                bus.publish_nowait(
                    position_update(ticket, ts=200, current_price=price, event_id=event_id)
                )
                await bus.flush()  # each in its own batch: the stored row decides
    assert query(path, "SELECT ticket, current_price, event_id FROM trade_positions") == [
        (1, 2.0, ids[1][1]),
        (2, 2.0, ids[2][1]),
    ]


async def test_a_closing_update_records_close_price_and_realized_pnl(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100))
        bus.publish_nowait(position_update(1, ts=200, current_price=50_400.0, unrealized_pnl=4.0))
        bus.publish_nowait(
            position_update(
                1,
                ts=300,
                status="closed",
                current_price=51_000.0,
                close_price=51_000.0,
                realized_pnl=10.0,
            )
        )
        await bus.flush()
    assert query(
        path,
        "SELECT status, close_price, realized_pnl, unrealized_pnl, opened_ts, closed_ts "
        "FROM trade_positions",
    ) == [("closed", 51_000.0, 10.0, None, 100, 300)]


async def test_updates_before_the_execution_keep_their_newer_state(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(position_update(1, ts=200, current_price=50_200.0, stop_loss=50_000.0))
        await bus.flush()
        bus.publish_nowait(execution(1, ts=100, entry_price=50_000.0))
        await bus.flush()
    assert query(
        path,
        "SELECT direction, status, entry_price, current_price, stop_loss, opened_ts, ts "
        "FROM trade_positions",
    ) == [("BUY", "modified", 50_000.0, 50_200.0, 50_000.0, 100, 200)]


_POSITION = (
    "SELECT status, current_price, volume, close_price, realized_pnl, unrealized_pnl, closed_ts, "
    "event_id FROM trade_positions"
)


async def test_a_close_stamped_before_the_last_update_still_closes_the_position(
    tmp_path: Path,
) -> None:
    # The wall clock stepped back 2 s between the update and the close.
    path = tmp_path / MAIN.filename
    close = _close(1, ts=_T - _SECOND, price=50_200.0, pnl=2.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T - 2 * _SECOND))
        bus.publish_nowait(
            position_update(1, ts=_T + _SECOND, current_price=50_100.0, unrealized_pnl=1.0)
        )
        await bus.flush()
        bus.publish_nowait(close)
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_200.0, 0.01, 50_200.0, 2.0, None, _T - _SECOND, close.event_id)
    ]


async def test_no_update_after_a_close_reopens_the_position(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    made_before_the_close = position_update(1, ts=_T + 1, current_price=50_050.0)
    close = _close(1, ts=_T + 2, price=50_200.0, pnl=2.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(close)
        await bus.flush()
        # Made later (a larger event_id, a later ts), or made earlier and delivered late.
        bus.publish_nowait(
            position_update(1, ts=_T + 3, current_price=50_300.0, volume=1.0, unrealized_pnl=3.0)
        )
        bus.publish_nowait(made_before_the_close)
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_200.0, 0.01, 50_200.0, 2.0, None, _T + 2, close.event_id)
    ]
    assert count(path, "position_updates") == 3  # every update is kept in the history
    assert count(path, "dead_letters") == 0


async def test_a_close_made_before_the_last_update_closes_the_position(tmp_path: Path) -> None:
    # Two processes: the close got the smaller event_id, but arrives last. A close is
    # final whatever the order: the position closes with the close's values.
    path = tmp_path / MAIN.filename
    close_id, modify_id = new_event_id(), new_event_id()
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(position_update(1, ts=_T + 2, current_price=50_300.0,
                                           unrealized_pnl=3.0, event_id=modify_id))  # fmt: skip
        await bus.flush()
        bus.publish_nowait(_close(1, ts=_T + 1, price=50_100.0, pnl=1.0, event_id=close_id))
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_100.0, 0.01, 50_100.0, 1.0, None, _T + 1, close_id)
    ]


_SECOND_CLOSE = (
    "IntegrityError: position_updates: this ticket was closed before by another close "
    "(another event_id); a position closes once: a retry must repeat the close under its "
    "event_id"
)


@pytest.mark.parametrize("batches", ["one batch", "a batch each"])
async def test_of_two_closes_the_first_stored_holds_and_the_other_is_refused(
    tmp_path: Path, batches: str
) -> None:
    # Two callers close one ticket at once (other event_ids, other P&L): whatever
    # their event_ids, the close that arrives first is stored, the other is refused.
    path = tmp_path / MAIN.filename
    ids = {ticket: (new_event_id(), new_event_id()) for ticket in (1, 2)}
    refused: dict[int, tuple[PositionUpdate, int, NotStored]] = {}
    async with running_writer(path, MAIN) as (bus, _):
        for ticket, (made_first, made_second) in ids.items():
            bus.publish_nowait(execution(ticket, ts=_T))
            await bus.flush()
            arriving_first, arriving_last = (
                (made_first, made_second) if ticket == 1 else (made_second, made_first)
            )
            bus.publish_nowait(_close(ticket, ts=_T + 1, price=50_100.0, pnl=100.0,
                                      event_id=arriving_first))  # fmt: skip
            if batches == "a batch each":
                await bus.flush()
            late = _close(ticket, ts=_T + 1, price=50_900.0, pnl=900.0, event_id=arriving_last)
            seq = bus.publish_nowait(late)
            with pytest.raises(NotStored, match="closed before by another close") as failure:
                await bus.flush()
            refused[ticket] = (late, seq, failure.value)
            bus.publish_nowait(late)  # the refused close again: refused again
            with pytest.raises(NotStored, match="closed before by another close"):
                await bus.flush()
    assert query(
        path, "SELECT ticket, status, close_price, realized_pnl, event_id FROM trade_positions"
    ) == [
        (1, "closed", 50_100.0, 100.0, ids[1][0]),
        (2, "closed", 50_100.0, 100.0, ids[2][1]),
    ]
    assert query(
        path,
        "SELECT ticket, event_id FROM position_updates WHERE status = 'closed' ORDER BY ticket",
    ) == [(1, ids[1][0]), (2, ids[2][1])]
    letters = query(path, "SELECT data, error FROM dead_letters ORDER BY id")
    assert letters == [
        (schemas.encode(refused[ticket][0]), _SECOND_CLOSE) for ticket in (1, 1, 2, 2)
    ]
    for _, seq, error in refused.values():
        assert (error.event_type, error.seq, error.more) == ("PositionUpdate", seq, 0)
        assert error.reason == f"went to dead_letters: {_SECOND_CLOSE}"


async def test_a_close_replayed_unchanged_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    close = _close(1, ts=_T + 1, price=50_100.0, pnl=1.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(close)
        bus.publish_nowait(close)  # in the same batch
        await bus.flush()
        bus.publish_nowait(close)  # in another
        await bus.flush()
    assert query(path, _POSITION) == [
        ("closed", 50_100.0, 0.01, 50_100.0, 1.0, None, _T + 1, close.event_id)
    ]
    assert count(path, "position_updates") == 1
    assert count(path, "dead_letters") == 0


async def test_an_update_delivered_late_fills_in_what_no_later_update_changed(
    tmp_path: Path,
) -> None:
    path = tmp_path / MAIN.filename
    stops_moved = position_update(1, ts=_T + 1, current_price=50_100.0, stop_loss=49_900.0,
                                  take_profit=51_500.0)  # fmt: skip
    price_moved = position_update(1, ts=_T + 2, current_price=50_200.0, take_profit=52_000.0)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=_T))
        bus.publish_nowait(price_moved)
        await bus.flush()
        bus.publish_nowait(stops_moved)  # made first, delivered last
        await bus.flush()
    assert query(
        path, "SELECT current_price, stop_loss, take_profit, event_id FROM trade_positions"
    ) == [(50_200.0, 49_900.0, 52_000.0, price_moved.event_id)]
