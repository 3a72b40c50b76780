"""Values at the edge of what can be stored: an event over the size limit is refused at
the call (and the node stays up), ints beyond 64 bits in float arguments are stored as
floats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import schemas
from schemas import MAX_EVENT_BYTES, InvalidEvent
from tradebus import open_node

from ._helpers import EXECUTION_CALL as _EXE
from ._helpers import RECOMMENDATION_CALL as _REC
from ._helpers import one as _one
from ._helpers import recommendation_state as _recommendation_state

_MAIN = "unified_tick_pipeline.db"
_ANALYSIS = "analysis_data.db"
_LOGS = "system_logs.db"


@pytest.mark.parametrize(
    ("method", "argument"),
    [
        ("log_analysis_result", "payload"),
        ("log_trade_analysis", "indicators"),
        ("log_system_health", "details"),
    ],
)
async def test_a_gigabyte_event_is_refused_at_the_call_and_the_node_stays_up(
    tmp_path: Path, method: str, argument: str
) -> None:
    text = "x" * 999_999  # under the per-string cap; one shared object, a megabyte
    payload = {str(n): text for n in range(1_050)}
    arguments: dict[str, dict[str, Any]] = {
        "log_analysis_result": {"kind": "bulk"},
        "log_trade_analysis": {
            "symbol": "BTCUSDT",
            "timeframe": "M5",
            "regime": "r",
            "confluence_score": 0.0,
        },
        "log_system_health": {"component": "feed", "status": "ok"},
    }
    async with open_node(tmp_path) as node:
        integration = node.integration("desktop_agent" if "analysis" in method else "api_server")
        call: Callable[..., Awaitable[str]] = getattr(integration, method)
        with pytest.raises(InvalidEvent, match=rf"over the limit of {MAX_EVENT_BYTES:,} bytes"):
            await call(**arguments[method], **{argument: payload})
        assert node.bus.published == 0
        # The largest event validation admits is stored.
        big = {"a": "y" * 600_000, "b": "z" * 400_000}
        await call(**arguments[method], **{argument: big})
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)


async def test_ints_beyond_64_bits_in_float_arguments_are_stored_as_floats(
    tmp_path: Path,
) -> None:
    big = 2**63
    async with open_node(tmp_path) as node:
        agent = node.integration("desktop_agent")
        bot = node.integration("chatgpt_bot")
        api = node.integration("api_server")
        recommendation = await agent.log_trade_recommendation(**_REC)
        await bot.log_trade_execution(**_EXE, recommendation_id=recommendation)
        await bot.update_position(
            ticket=7, symbol="BTCUSDT", current_price=100.0, unrealized_pnl=big
        )
        await bot.close_position(ticket=7, symbol="BTCUSDT", close_price=101.0, realized_pnl=big)
        await agent.log_trade_recommendation(
            symbol="BTCUSDT", direction="SELL", entry_price=big, stop_loss=2**64 - 1,
            take_profit=1.0, confidence=1,
        )  # fmt: skip
        await api.log_api_request(method="GET", path="/", status_code=200, duration_ms=big)
        await agent.log_trade_analysis(
            symbol="BTCUSDT", timeframe="H1", regime="x", confluence_score=big
        )
        tick = schemas.Tick(symbol="BTCUSDT", bid=big, ask=2.0**64)
        with pytest.raises(InvalidEvent, match=r"Tick\.bid: an int in a float field"):
            await node.bus.publish(tick, wait=True)
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert (writer.dead_letters, writer.last_error) == (0, None)
    main, analysis = tmp_path / _MAIN, tmp_path / _ANALYSIS
    assert _one(main, "SELECT status, realized_pnl, typeof(realized_pnl) FROM trade_positions") == (
        "closed",
        float(big),
        "real",
    )
    assert _recommendation_state(analysis, recommendation) == ("closed", 7, "win", float(big))
    assert _one(tmp_path / _LOGS, "SELECT duration_ms FROM api_logs") == (float(big),)
    assert _one(analysis, "SELECT confluence_score FROM trade_analysis") == (float(big),)
