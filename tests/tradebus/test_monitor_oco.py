"""OCO groups: the first member to fill or close triggers the group, the others must
be cancelled, and a member filling afterwards (both legs live) raises a critical
alert; once each, also when the monitor was stopped in between."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import InvalidEvent, new_event_id
from tradebus import AlreadyRecorded, Node, open_node

from ._monitor_scripts import MAIN, alerts, monitored, monitoring, position, quotes, rows


async def _fill(node: Node, ticket: int, ts: int, direction: str = "BUY") -> None:
    sign = 1 if direction == "BUY" else -1
    await node.integration("chatgpt_bot").log_trade_execution(
        ticket=ticket, symbol="EURUSD", direction=direction,  # type: ignore[arg-type]
        entry_price=100.0, volume=1.0, stop_loss=100.0 - 5 * sign, ts=ts,
    )  # fmt: skip


async def _bracket(node: Node) -> int:
    """Two pending orders, a buy stop (#11) and a sell stop (#12), one cancels other."""
    await node.integration("chatgpt_bot").register_oco(group_id="bracket", tickets=[11, 12])
    [(ts,)] = rows(node.path("main"), "SELECT ts FROM oco_groups WHERE group_id = 'bracket'")
    return int(ts)  # fills from now on are after the group's registration


async def test_both_legs_filling_raises_a_critical_alert(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        now = await _bracket(node)
        await monitor.caught_up()
        assert monitoring(tmp_path) == []
        await _fill(node, 11, ts=now)
        await monitor.caught_up()
        assert [(m[0], m[1], m[2]) for m in monitoring(tmp_path)] == [
            (11, "oco_triggered", "oco_triggered"),
            (12, "oco_cancel_order", "cancel_required"),
        ]
        await _fill(node, 12, ts=now + 1, direction="SELL")
        await monitor.caught_up()
        stats = monitor.statistics()
    both = [a for a in alerts(tmp_path) if a[2] == "critical"]
    assert both == [
        (12, "system", "critical",
         "OCO group bracket: #12 filled after #11 filled: both legs are live; close one now"),
    ]  # fmt: skip
    assert (stats.oco_triggers, stats.oco_both_live) == (1, 1)


async def test_a_restart_in_the_middle_finds_the_second_fill_once(tmp_path: Path) -> None:
    async with monitored(tmp_path) as (node, monitor):
        now = await _bracket(node)
        await _fill(node, 11, ts=now)
        await monitor.caught_up()
    async with open_node(tmp_path, monitor=None) as node:  # the bot runs on without its monitor
        await _fill(node, 12, ts=now + 1, direction="SELL")
    for _ in range(2):
        async with monitored(tmp_path) as (node, monitor):
            await monitor.caught_up()
    assert [m[1] for m in monitoring(tmp_path)] == [
        "oco_triggered",
        "oco_cancel_order",
        "oco_both_live",
    ]
    assert [a[2] for a in alerts(tmp_path)] == ["warning", "warning", "critical"]


async def test_both_legs_filling_while_the_monitor_was_stopped(tmp_path: Path) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        now = await _bracket(node)
        await _fill(node, 12, ts=now + 5, direction="SELL")
        await _fill(node, 11, ts=now + 9)
    async with monitored(tmp_path) as (node, monitor):
        await monitor.caught_up()
    # The first fill (by ts) triggered the group; the other is both legs live.
    assert [(m[0], m[1]) for m in monitoring(tmp_path)] == [
        (12, "oco_triggered"),
        (11, "oco_cancel_order"),
        (11, "oco_both_live"),
    ]


async def test_a_member_closing_on_its_stop_asks_to_close_the_other_position(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await _fill(node, 11, ts=1_000)  # open positions when the group is made
        await _fill(node, 12, ts=1_000, direction="SELL")
        await _bracket(node)
        await monitor.caught_up()
        assert monitoring(tmp_path) == []  # open before the group: no fill of it
        await quotes(node, monitor, (94.9, 95.0, 2_000))  # #11's stop on the bid
    assert [(m[0], m[1]) for m in monitoring(tmp_path)] == [
        (11, "stop_loss_hit"),
        (11, "oco_triggered"),
        (12, "oco_close_position"),
    ]
    assert "#11 closed; close position #12" in monitoring(tmp_path)[2][3]
    # Simulating, the monitor closes both: #11 on its stop at the bid, #12 (a sell) at
    # the ask of the same tick, the latest price it had.
    assert position(tmp_path, 11)[0] == "closed"
    assert position(tmp_path, 11)[3:] == (94.9, -5.1)
    assert position(tmp_path, 12)[0] == "closed"
    assert position(tmp_path, 12)[3:] == (95.0, 5.0)


async def test_simulating_an_oco_close_waits_for_the_position_s_first_price(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path, mode="simulate") as (node, monitor):
        await _fill(node, 11, ts=1_000)
        await _bracket(node)
        await monitor.caught_up()
        await quotes(node, monitor, (101.0, 101.2, 2_000), symbol="GBPUSD")  # not #11's
        # #12 (another symbol) closes: #11 must be closed, but has no price yet.
        bot = node.integration("chatgpt_bot")
        await bot.log_trade_execution(
            ticket=12, symbol="GBPUSD", direction="BUY", entry_price=101.0, volume=1.0, ts=1_500
        )
        await bot.close_position(ticket=12, symbol="GBPUSD", close_price=101.0, realized_pnl=0.0)
        await monitor.caught_up()
        assert position(tmp_path, 11)[0] == "open"
        await quotes(node, monitor, (99.5, 99.7, 3_000))  # #11's first tick: closed at its bid
    assert position(tmp_path, 11)[0] == "closed"
    assert position(tmp_path, 11)[3:] == (99.5, -0.5)
    assert [(m[0], m[1]) for m in monitoring(tmp_path)] == [
        (12, "oco_triggered"),
        (11, "oco_close_position"),
    ]


async def test_an_oco_close_marked_while_observing_is_done_when_simulating_after(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):  # observing: marked, not closed
        await _fill(node, 11, ts=1_000)
        await _fill(node, 12, ts=1_000, direction="SELL")
        await _bracket(node)
        await node.integration("chatgpt_bot").close_position(
            ticket=12, symbol="EURUSD", close_price=100.5, realized_pnl=-0.5
        )
        await monitor.caught_up()
    assert position(tmp_path, 11)[0] == "open"
    for _ in range(2):  # once: a second start closes nothing again
        async with monitored(tmp_path, mode="simulate") as (node, monitor):
            await quotes(node, monitor, (100.25, 100.5, 2_000))
    assert position(tmp_path, 11)[0] == "closed"
    assert position(tmp_path, 11)[3:] == (100.25, 0.25)
    assert [m[1] for m in monitoring(tmp_path)] == ["oco_triggered", "oco_close_position"]


async def test_register_oco_is_checked_and_stored_once(tmp_path: Path) -> None:
    async with open_node(tmp_path, monitor=None) as node:
        bot = node.integration("chatgpt_bot")
        assert await bot.register_oco(group_id="g", tickets=[1, 2]) == "g"
        assert await bot.register_oco(group_id="g", tickets=[2, 1]) == "g"  # the same
        with pytest.raises(AlreadyRecorded, match=r"OCO group 'g' is registered .* with tickets"):
            await bot.register_oco(group_id="g", tickets=[1, 3])
        with pytest.raises(InvalidEvent, match=r"OcoGroup\.tickets: must name each ticket once"):
            await bot.register_oco(group_id="h", tickets=[1, 1])
        with pytest.raises(InvalidEvent, match=r"OcoGroup\.tickets"):
            await bot.register_oco(group_id="h", tickets=[1])
    assert rows(tmp_path / MAIN, "SELECT group_id, tickets FROM oco_groups") == [("g", "[1,2]")]


def _same_millisecond(event_id: str) -> str:
    """Another event_id of the same millisecond as ``event_id``."""
    last = "0" if event_id[-1] != "0" else "1"
    return event_id[:-1] + last


async def test_a_member_closed_in_the_trigger_s_millisecond_leaves_the_trigger_as_it_was(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as (node, monitor):
        await _fill(node, 11, ts=1_000)
        await _fill(node, 12, ts=1_000, direction="SELL")
        await _bracket(node)
        bot = node.integration("chatgpt_bot")
        first = new_event_id()
        await bot.close_position(ticket=12, symbol="EURUSD", close_price=100.0, event_id=first)
        await monitor.caught_up()
        # #11 closed as asked, in the same millisecond (the closes' time is their id's):
        # by (time, ticket) it would come first, but #12 triggered the group already.
        await bot.close_position(
            ticket=11, symbol="EURUSD", close_price=100.0, event_id=_same_millisecond(first)
        )
        await monitor.caught_up()
    async with monitored(tmp_path) as (node, monitor):  # and after a restart
        await monitor.caught_up()
    assert [(m[0], m[1]) for m in monitoring(tmp_path)] == [
        (12, "oco_triggered"),
        (11, "oco_close_position"),
    ]
