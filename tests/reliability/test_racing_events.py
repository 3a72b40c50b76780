"""Two events racing for one key (a position's close, a ticket, a recommendation_id),
both past the call's checks: one is stored, and the other's caller is told it was not.

Each test checks what a user reads back: positions, recommendations, their history
tables, and dead letters with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec

import schemas
from eventbus import EventBus, NotStored
from schemas import TradeExecution, TradeRecommendation, new_event_id
from tests.writers._helpers import execution, position_update, query, running_writer
from writers import ANALYSIS, MAIN

from ._helpers import README_EXECUTION as _EXECUTION
from ._helpers import README_RECOMMENDATION as _RECOMMENDATION
from ._helpers import T0 as _T


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
