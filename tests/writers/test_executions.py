"""An execution opens its ticket's one trade: it opens the position (also after
updates delivered before it); a second execution on the ticket, or the same one
under a new event_id, is refused and never merged."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import schemas
from eventbus import NotStored
from schemas import TradeExecution, new_event_id
from writers import MAIN

from ._helpers import SECOND_NS as _SECOND
from ._helpers import WALL_CLOCK_NS as _T
from ._helpers import closing_update as _close
from ._helpers import count, execution, position_update, query, running_writer


async def test_an_execution_opens_its_position(tmp_path: Path) -> None:
    path = tmp_path / MAIN.filename
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(execution(1, ts=100, entry_price=50_000.0))
        await bus.flush()
    assert query(
        path,
        "SELECT ticket, direction, status, entry_price, current_price, volume, stop_loss, "
        "take_profit, opened_ts, closed_ts FROM trade_positions",
    ) == [(1, "BUY", "open", 50_000.0, 50_000.0, 0.01, 49_500.0, 51_000.0, 100, None)]


@pytest.mark.parametrize("first_trade", ["open", "closed"])
async def test_a_second_execution_on_a_ticket_is_refused_and_never_merged(
    tmp_path: Path, first_trade: str
) -> None:
    path = tmp_path / MAIN.filename
    first = execution(1, ts=_T)
    second = TradeExecution(ticket=1, symbol="BTCUSDT", direction="SELL", entry_price=60_000.0,
                            volume=0.5, ts=_T + 10 * _SECOND)  # fmt: skip
    async with running_writer(path, MAIN) as (bus, actor):
        bus.publish_nowait(first)
        bus.publish_nowait(
            position_update(1, ts=_T + 1, current_price=50_100.0, stop_loss=49_900.0)
        )
        if first_trade == "closed":
            bus.publish_nowait(_close(1, ts=_T + 2, price=50_200.0, pnl=2.0))
        await bus.flush()
        before = query(path, "SELECT * FROM trade_positions")
        seq = bus.publish_nowait(second)
        bus.publish_nowait(execution(2, ts=_T + 3))  # the rest of the batch is stored
        with pytest.raises(NotStored, match="opened before by another execution") as refused:
            await bus.flush()
        await bus.flush()  # reported once
        assert actor.statistics().dead_letters == 1
    assert query(path, "SELECT * FROM trade_positions WHERE ticket = 1") == before
    assert query(path, "SELECT ticket, event_id FROM trade_executions ORDER BY ticket") == [
        (1, first.event_id),
        (2, query(path, "SELECT event_id FROM trade_executions WHERE ticket = 2")[0][0]),
    ]
    [(data, error)] = query(path, "SELECT data, error FROM dead_letters")
    assert data == schemas.encode(second)
    assert "ticket was opened before by another execution (another event_id)" in error
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeExecution",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {error}"


_REUSED_TICKET = (
    "IntegrityError: trade_executions: this ticket was opened before by another execution "
    "(another event_id); a ticket opens one trade: a retry must repeat the execution under "
    "its event_id, a new trade needs a ticket of its own"
)


async def test_an_execution_repeated_under_a_new_event_id_is_refused(tmp_path: Path) -> None:
    # Two identical calls racing, or a direct publish of the same trade: skipping the
    # second would acknowledge an event_id stored nowhere.
    path = tmp_path / MAIN.filename
    first = execution(1, ts=_T)
    repeat = msgspec.structs.replace(first, event_id=new_event_id())  # the same content
    async with running_writer(path, MAIN) as (bus, actor):
        bus.publish_nowait(first)
        await bus.flush()
        bus.publish_nowait(position_update(1, ts=_T + 1, current_price=50_100.0))
        seq = bus.publish_nowait(repeat)
        with pytest.raises(NotStored, match="opened before by another execution") as refused:
            await bus.flush()
        bus.publish_nowait(first)  # the stored event replayed: a no-op
        await bus.flush()
        assert actor.statistics().dead_letters == 1
    assert query(path, "SELECT ticket, ts, event_id FROM trade_executions") == [
        (1, _T, first.event_id)
    ]
    assert query(path, "SELECT status, current_price, volume FROM trade_positions") == [
        ("modified", 50_100.0, 0.01)
    ]
    assert query(path, "SELECT data, error FROM dead_letters") == [
        (schemas.encode(repeat), _REUSED_TICKET)
    ]
    assert (refused.value.event_type, refused.value.seq, refused.value.more) == (
        "TradeExecution",
        seq,
        0,
    )
    assert refused.value.reason == f"went to dead_letters: {_REUSED_TICKET}"


async def test_an_execution_after_its_updates_is_stored(tmp_path: Path) -> None:
    # Updates delivered before their execution make a row with no direction: the
    # execution is the ticket's first, not a reuse.
    path = tmp_path / MAIN.filename
    opened = execution(1, ts=_T)
    async with running_writer(path, MAIN) as (bus, _):
        bus.publish_nowait(position_update(1, ts=_T + 1, current_price=50_100.0))
        await bus.flush()
        bus.publish_nowait(opened)
        bus.publish_nowait(opened)  # replayed: a no-op
        await bus.flush()
    assert query(path, "SELECT event_id FROM trade_executions") == [(opened.event_id,)]
    assert query(path, "SELECT direction, status, current_price FROM trade_positions") == [
        ("BUY", "modified", 50_100.0)
    ]
    assert count(path, "dead_letters") == 0
