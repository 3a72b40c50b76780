"""No writer to store an event: every call says why.

A ``publish(wait=True)``, ``flush()`` or ``log_*`` call that returns promises that
its events are in their database. A writer that hits a bug stops (it does not
dead-letter the data), a dead writer's error is raised by every later publish, flush
or log call, and a node used before ``async with`` or after it says it is not started
or is closed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from eventbus import BusClosed
from schemas import TradeExecution
from tradebus import NoRoute, Topology, TradebusError, open_node
from writers import ANALYSIS, LOGS, MAIN, DatabaseSpec, WriterError

from ._helpers import bus_and_writer, execution, read_only, rows, tick

_MAIN = MAIN.filename


def _failing_handler(error: Exception) -> Any:
    def handler(events: Sequence[Any]) -> list[Any]:
        raise error

    return handler


def _with_handler(spec: DatabaseSpec, event_type: type[Any], handler: Any) -> DatabaseSpec:
    return dataclasses.replace(spec, handlers={**spec.handlers, event_type: handler})


_BAD_SQL = "INSERT INTO trade_executions (no_such_column) VALUES (?)"


@pytest.mark.parametrize(
    ("handler", "named"),
    [
        (_failing_handler(TypeError("unsupported operand")), "TypeError: unsupported operand"),
        (_failing_handler(KeyError("ticket")), "KeyError: 'ticket'"),
        (_failing_handler(AttributeError("no ticket")), "AttributeError: no ticket"),
        (lambda events: [("trade_executions", _BAD_SQL, [(1,) for _ in events])], "no_such"),
    ],
    ids=["TypeError", "KeyError", "AttributeError", "no-such-column"],
)
async def test_a_bug_in_the_writer_stops_it_instead_of_dead_lettering(
    tmp_path: Path, handler: Any, named: str
) -> None:
    path = tmp_path / _MAIN
    spec = _with_handler(MAIN, TradeExecution, handler)
    async with bus_and_writer(spec, path, max_delay=3600.0, max_batch=101) as (bus, writer):
        for n in range(100):
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10), pytest.raises(BusClosed) as refused:
            await bus.publish(execution(1), wait=True)  # the 101st: the batch is cut
        await writer.stopped.wait()
        with pytest.raises(BusClosed) as flushed:
            await bus.flush()
    assert refused.value.__cause__ is writer.error
    assert flushed.value.__cause__ is writer.error
    assert isinstance(writer.error, WriterError)
    assert named in str(writer.error)
    assert "failed on a bug" in str(writer.error) or "cannot write" in str(writer.error)
    assert rows(path, "SELECT count(*) FROM unified_ticks") == [(0,)]  # nothing of it
    assert rows(path, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_a_flush_after_the_writer_died_raises_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / _MAIN
    async with bus_and_writer(MAIN, path, max_delay=3600.0, max_batch=1_000) as (bus, writer):
        for n in range(1_000):  # a full batch: committed at once
            bus.publish_nowait(tick(n))
        with anyio.fail_after(10):
            await bus.flush()
        acknowledged = bus.published
        os.unlink(path)
        waiting: list[BaseException] = []

        async def flush_while_it_dies() -> None:
            try:
                await bus.flush()
            except BusClosed as exc:
                waiting.append(exc)

        # No await since the unlink: the writer has not looked at its files yet. It
        # finds the file gone at its next look (a full batch, or its idle watch).
        for n in range(1_000):
            bus.publish_nowait(tick(n))
        async with anyio.create_task_group() as tg:
            tg.start_soon(flush_while_it_dies)
            with anyio.fail_after(10):
                await writer.stopped.wait()
        assert isinstance(writer.error, WriterError)
        for attempt in (bus.flush, lambda: bus.publish(tick(0), wait=True)):
            with pytest.raises(BusClosed) as refused:
                await attempt()
            assert refused.value.__cause__ is writer.error
        with pytest.raises(BusClosed) as refused:
            bus.publish_nowait(tick(1))
        assert refused.value.__cause__ is writer.error
        await bus.flush(acknowledged)  # what was acknowledged before still counts
    [flushed] = waiting
    assert flushed.__cause__ is writer.error
    assert "vanished" in str(flushed)


async def test_a_node_whose_writer_failed_refuses_with_its_error(tmp_path: Path) -> None:
    spec = _with_handler(MAIN, TradeExecution, _failing_handler(KeyError("ticket")))
    topology = Topology({"chatgpt_bot": spec, "desktop_agent": ANALYSIS, "api_server": LOGS})
    node = open_node(tmp_path, topology=topology)
    with anyio.fail_after(10), pytest.raises(WriterError, match="KeyError") as failed:
        async with node:
            await node.bus.publish(execution(1), wait=True)
    api = node.integration("chatgpt_bot")
    for attempt in (
        node.bus.flush,
        lambda: node.bus.publish(tick(0), wait=True),
        lambda: api.log_trade_execution(
            ticket=2, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        ),
    ):
        with pytest.raises(BusClosed) as refused:
            await attempt()
        assert refused.value.__cause__ is failed.value
    with pytest.raises(BusClosed) as refused:
        node.check_route(execution(3))
    assert refused.value.__cause__ is failed.value


# ---------------------------------------------------------- a node not started


async def test_a_node_used_without_async_with_says_it_is_not_started(tmp_path: Path) -> None:
    node = open_node(tmp_path)
    api = node.integration("chatgpt_bot")
    for attempt in (
        lambda: node.bus.publish(execution(1), wait=True),
        lambda: api.log_trade_execution(
            ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        ),
    ):
        with pytest.raises(TradebusError, match="the node is not started: use `async with"):
            await attempt()
    with pytest.raises(TradebusError) as refused:
        node.bus.publish_nowait(tick(1))
    assert not isinstance(refused.value, NoRoute)
    async with node:
        await api.log_trade_execution(
            ticket=1, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        )
    with pytest.raises(TradebusError, match="the node is closed"):
        await api.log_trade_execution(
            ticket=2, symbol="BTCUSDT", direction="BUY", entry_price=1.0, volume=1.0
        )
    with read_only(tmp_path / _MAIN) as conn:
        assert conn.execute("SELECT ticket FROM trade_executions").fetchall() == [(1,)]
