"""Topics of events: NATS-style dotted names, with symbols escaped into one token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus import check_topic
from schemas import (
    AnalysisResult,
    Event,
    SystemHealth,
    Tick,
    admit,
    symbol_token,
    token_symbol,
    validate,
)

from ._samples import sample_events

PROPERTY = settings(max_examples=100, deadline=None)

EXPECTED_TOPICS = {
    "Tick": "market.tick.BTCUSDT",
    "Candle": "market.candle.M5.EURUSD%2Em",
    "TradeExecution": "trade.execution.BTCUSDT",
    "PositionUpdate": "trade.position.BTCUSDT",
    "TradeRecommendation": "analysis.recommendation.BTCUSDT",
    "RecommendationUpdate": "analysis.recommendation_update.closed",
    "TradeAnalysis": "analysis.trade_analysis.XAUUSD%2Er",
    "AnalysisResult": "analysis.result.signal",
    "TradeMonitoring": "logs.monitoring.BTCUSDT",
    "TradeAlert": "logs.alert.critical",
    "ApiLog": "logs.api.GET",
    "SystemHealth": "logs.health.writer%2Emain",
    "TickImport": "market.tick_import.EURUSD",
    "ExitRule": "trade.exit_rule.BTCUSDT",
    "OcoGroup": "trade.oco.bracket-1",
    "MonitorMark": "trade.monitor_mark.BTCUSDT",
}


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_each_event_has_its_topic(event: Event) -> None:
    topic = event.topic
    assert topic == EXPECTED_TOPICS[type(event).__name__]
    assert topic.startswith(type(event).topic_prefix + ".")
    assert check_topic(topic) == topic
    assert admit(event) == topic


@pytest.mark.parametrize(
    ("symbol", "token"),
    [
        ("EURUSD.m", "EURUSD%2Em"),
        ("XAUUSD.r", "XAUUSD%2Er"),
        ("BRK.B", "BRK%2EB"),
        ("BTC/USDT", "BTC/USDT"),
        ("ES-202612", "ES-202612"),
        ("A.B.C", "A%2EB%2EC"),
        ("50%", "50%25"),
    ],
)
def test_a_symbol_with_dots_yields_one_token_reversibly(symbol: str, token: str) -> None:
    assert symbol_token(symbol) == token
    assert token_symbol(token) == symbol
    if symbol != "50%":
        topic = validate(Tick(symbol=symbol, bid=1.0, ask=2.0)).topic
        assert topic == f"market.tick.{token}"
        assert token_symbol(topic.split(".")[2]) == symbol


@pytest.mark.parametrize("text", ["*", ">", "a b", "a\tb", "line\nbreak", "cr\r", "nbsp\u00a0"])
def test_wildcards_and_whitespace_are_escaped_into_a_valid_token(text: str) -> None:
    token = symbol_token(text)
    assert check_topic(f"logs.health.{token}")
    assert token not in ("*", ">")
    assert not any(ch.isspace() for ch in token)
    assert token_symbol(token) == text


def test_a_name_with_a_line_break_still_makes_a_valid_topic() -> None:
    for event in (AnalysisResult(kind="a\nb"), SystemHealth(component="db\r\nmain", status="ok")):
        topic = admit(event)
        assert check_topic(topic) == topic


def test_token_symbol_keeps_a_percent_that_starts_no_escape() -> None:
    for token in ("50%", "%zz", "%u12", "%U0011000F", "a%2"):
        assert token_symbol(token) == token


any_text = st.text(st.characters(exclude_categories=()), max_size=40)


@PROPERTY
@given(any_text)
def test_symbol_token_of_any_text_is_one_valid_token_and_reversible(text: str) -> None:
    token = symbol_token(text)
    assert token_symbol(token) == text
    if text:
        assert "." not in token
        assert check_topic(f"market.tick.{token}")
        assert token.isprintable()


@PROPERTY
@given(st.text(min_size=1, max_size=128))
def test_any_valid_name_makes_a_valid_topic(kind: str) -> None:
    event = AnalysisResult(kind=kind)
    topic = admit(event)
    assert check_topic(topic) == topic
    assert token_symbol(topic.split(".")[2]) == kind
