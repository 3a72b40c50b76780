"""One valid event of every type, with every optional field set."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas import (
    AnalysisResult,
    ApiLog,
    Candle,
    Event,
    ExitRule,
    MonitorMark,
    OcoGroup,
    PositionUpdate,
    RecommendationUpdate,
    SystemHealth,
    Tick,
    TickImport,
    TradeAlert,
    TradeAnalysis,
    TradeExecution,
    TradeMonitoring,
    TradeRecommendation,
)

TS = 1_700_000_000_123_456_789


def sample_events() -> list[Event]:
    """Return a fresh valid event of each type (new event ids every call)."""
    return [
        Tick(
            symbol="BTCUSDT",
            bid=50000.0,
            ask=50000.5,
            last=50000.25,
            volume=1.5,
            source="binance",
            ts=TS,
        ),
        Candle(
            symbol="EURUSD.m",
            timeframe="M5",
            ts_open=TS - 300_000_000_000,
            open=1.1,
            high=1.2,
            low=1.0,
            close=1.15,
            volume=10.0,
            tick_count=42,
            ts=TS,
        ),
        TradeExecution(
            ticket=12345,
            symbol="BTCUSDT",
            direction="BUY",
            entry_price=50000.0,
            volume=0.01,
            stop_loss=49500.0,
            take_profit=51000.0,
            recommendation_id="rec-1",
            comment="opened by test",
        ),
        PositionUpdate(
            ticket=12345,
            symbol="BTCUSDT",
            status="closed",
            current_price=51000.0,
            volume=0.01,
            stop_loss=49500.0,
            take_profit=51000.0,
            unrealized_pnl=0.0,
            close_price=51000.0,
            realized_pnl=10.0,
        ),
        TradeRecommendation(
            symbol="BTCUSDT",
            direction="SELL",
            entry_price=50000.0,
            stop_loss=50500.0,
            take_profit=49000.0,
            confidence=85.0,
            reasoning="Strong bearish momentum",
            timeframe="H1",
            source="desktop_agent",
        ),
        RecommendationUpdate(
            recommendation_id="rec-1",
            status="closed",
            ticket=12345,
            outcome="win",
            realized_pnl=10.0,
        ),
        TradeAnalysis(
            symbol="XAUUSD.r",
            timeframe="H4",
            regime="trending",
            confluence_score=0.75,
            indicators={"rsi": 55.5, "ema": [1.0, 2.0], "note": None, "ok": True},
        ),
        AnalysisResult(kind="signal", payload={"k": {"nested": [1, "two"]}}, symbol="ES-202612"),
        TradeMonitoring(
            ticket=12345,
            symbol="BTCUSDT",
            monitoring_type="stop_loss_hit",
            status="alert_triggered",
            details="Stop loss hit at 49500.0",
        ),
        TradeAlert(
            alert_type="risk",
            severity="critical",
            message="drawdown above limit",
            symbol="BTC/USDT",
            ticket=12345,
        ),
        ApiLog(method="GET", path="/trades", status_code=200, duration_ms=1.5, client="127.0.0.1"),
        SystemHealth(component="writer.main", status="ok", details={"lag_ms": 3}),
        TickImport(
            file_hash="ab" * 32,
            symbol="EURUSD",
            filename="EURUSD-2024-01.csv",
            format="truefx",
            position=1200,
            byte_offset=54_000,
            ticks=1195,
            skipped=4,
            first_ts=1_700_000_000_000_000_000,
            last_ts=1_700_000_060_000_000_000,
            status="partial",
        ),
        ExitRule(
            ticket=12345,
            symbol="BTCUSDT",
            trailing_atr=2.5,
            atr_timeframe="H1",
            atr_period=20,
            trailing_activation=100.0,
            trailing_step=5.0,
            breakeven_trigger=200.0,
            breakeven_offset=10.0,
        ),
        OcoGroup(group_id="bracket-1", tickets=[12345, 12346]),
        MonitorMark(
            ticket=12345,
            symbol="BTCUSDT",
            kind="stop_loss_hit",
            level=49500.0,
            severity="warning",
            message="stop loss hit",
            price=49490.0,
            ref="bracket-1",
            ts=TS,
        ),
    ]


def sample(cls: type[Event]) -> Event:
    """Return the sample event of type ``cls``."""
    return next(event for event in sample_events() if type(event) is cls)


def fields_of(cls: type[Event]) -> dict[str, Any]:
    """Return the sample of ``cls`` as keyword arguments (without generated ids)."""
    fields = msgspec.structs.asdict(sample(cls))
    fields.pop("event_id", None)
    return fields
