"""SQL in text: stored verbatim in every text column, refused in symbols, bound in
reads; the schema is left as it was."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas import InvalidEvent
from tradebus import Node, open_node

from ._helpers import DATABASE_FILES, tables
from ._helpers import NASTY_TEXT as _NASTY_TEXT
from ._helpers import SQL_INJECTION as _SQL
from ._helpers import read_rows as _rows

#: (database, query, prefix): each query returns one stored copy of every nasty text.
_VERBATIM = [
    ("unified_tick_pipeline.db", "SELECT comment FROM trade_executions WHERE ticket >= 10", ""),
    ("analysis_data.db", "SELECT reasoning FROM trade_recommendations", ""),
    ("analysis_data.db", "SELECT source FROM trade_recommendations", ""),
    ("analysis_data.db", "SELECT kind FROM analysis_results", "k"),
    ("system_logs.db", "SELECT details FROM trade_monitoring", ""),
    ("system_logs.db", "SELECT monitoring_type FROM trade_monitoring", ""),
    ("system_logs.db", "SELECT message FROM trade_alerts", ""),
    ("system_logs.db", "SELECT path FROM api_logs", "/"),
    ("system_logs.db", "SELECT client FROM api_logs", ""),
]


async def log_nasty_texts(node: Node) -> None:
    bot = node.integration("chatgpt_bot")
    agent = node.integration("desktop_agent")
    api = node.integration("api_server")
    for text in _NASTY_TEXT:
        with pytest.raises(InvalidEvent, match="symbol"):
            await bot.log_trade_execution(
                ticket=2, symbol=text, direction="BUY", entry_price=1.0, volume=1.0
            )
    for n, text in enumerate(_NASTY_TEXT, start=10):
        await bot.log_trade_execution(
            ticket=n,
            symbol="BTCUSDT",
            direction="SELL",
            entry_price=50_000.0,
            volume=0.01,
            comment=text,
        )
        rec_id = await agent.log_trade_recommendation(
            symbol="BTCUSDT",
            direction="BUY",
            entry_price=50_000.0,
            stop_loss=49_500.0,
            take_profit=51_000.0,
            confidence=50,
            reasoning=text,
            timeframe=text,
            source=text,
        )
        await agent.log_analysis_result(kind="k" + text, payload={text: text})
        await api.log_trade_monitoring(
            ticket=n, symbol="BTCUSDT", monitoring_type=text, status=text, details=text
        )
        await api.log_trade_alert(alert_type="risk", severity="critical", message=text)
        await api.log_api_request(
            method="GET", path="/" + text, status_code=200, duration_ms=1.0, client=text
        )
        stored = [
            r.reasoning for r in await agent.recommendations() if r.recommendation_id == rec_id
        ]
        assert stored == [text]
    # Reads bind their arguments too.
    assert await bot.recent_ticks(_SQL) == []
    assert await agent.recommendations(status=_SQL) == []  # type: ignore[arg-type]


async def test_sql_in_text_is_stored_verbatim_and_symbols_refuse_it(tmp_path: Path) -> None:
    async with open_node(tmp_path):
        pass
    schema = {name: tables(tmp_path / name) for name in DATABASE_FILES}
    async with open_node(tmp_path) as node:
        await log_nasty_texts(node)
    assert {name: tables(tmp_path / name) for name in DATABASE_FILES} == schema
    nasty = sorted(_NASTY_TEXT)
    for filename, sql, prefix in _VERBATIM:
        texts = [row[0] for row in _rows(tmp_path / filename, sql)]
        assert all(text.startswith(prefix) for text in texts)
        assert sorted(text.removeprefix(prefix) for text in texts) == nasty, sql
    payloads = _rows(tmp_path / "analysis_data.db", "SELECT payload FROM analysis_results")
    decoded = [msgspec.json.decode(payload) for (payload,) in payloads]
    assert sorted(decoded, key=str) == sorted(({t: t} for t in _NASTY_TEXT), key=str)
