"""NATS-style topics and patterns: ``*`` matches one token, ``>`` one or more at the end."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus import EventBus, Pattern, check_topic, matches

MATCHES = [
    # literal
    ("market.tick.BTCUSDT", "market.tick.BTCUSDT", True),
    ("market.tick.BTCUSDT", "market.tick.ETHUSDT", False),
    ("market.tick.BTCUSDT", "market.tick", False),
    ("market.tick", "market.tick.BTCUSDT", False),
    ("a", "a", True),
    ("a", "b", False),
    # * matches exactly one token
    ("market.tick.*", "market.tick.BTCUSDT", True),
    ("market.tick.*", "market.tick", False),
    ("market.tick.*", "market.tick.BTCUSDT.extra", False),
    ("market.*.BTCUSDT", "market.candle.BTCUSDT", True),
    ("market.*.BTCUSDT", "market.candle.M5.BTCUSDT", False),
    ("*.*.*", "trade.execution.BTCUSDT", True),
    ("*.*.*", "logs.alert", False),
    ("*", "a", True),
    ("*", "a.b", False),
    # > matches one or more trailing tokens
    ("market.>", "market.tick.BTCUSDT", True),
    ("market.>", "market.candle.M5.EURUSD%2Em", True),
    ("market.>", "market", False),
    ("market.>", "trade.execution.BTCUSDT", False),
    (">", "a", True),
    (">", "a.b.c.d", True),
    ("*.>", "a", False),
    ("*.>", "a.b", True),
    ("logs.*.>", "logs.alert.critical", True),
    ("logs.*.>", "logs.alert", False),
    # wildcard characters inside a token are literal
    ("market.tick*", "market.tickX", False),
    ("market.tick*", "market.tick*", True),
    ("a.b>", "a.b>", True),
    ("a.b>", "a.bc", False),
]


@pytest.mark.parametrize(("pattern", "topic", "expected"), MATCHES)
def test_pattern_matches_topics_like_nats(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected
    assert Pattern(pattern).matches(topic) is expected


def test_a_subscription_with_several_patterns_gets_each_matching_message_once() -> None:
    bus = EventBus()
    sub = bus.subscribe(["market.tick.*", "market.>", "logs.alert.critical"])
    for topic in ("market.tick.BTC", "market.candle.M5.BTC", "logs.alert.critical", "logs.api.GET"):
        bus.publish_nowait({"on": topic}, topic)
    assert [m.topic for m in sub._take(100)] == [
        "market.tick.BTC",
        "market.candle.M5.BTC",
        "logs.alert.critical",
    ]
    assert sub.statistics().patterns == ("market.tick.*", "market.>", "logs.alert.critical")


@pytest.mark.parametrize(
    "pattern", ["", "a..b", ".a", "a.", "a.>.b", ">.a", "a b", "a.\tb", "a\n", None, 5]
)
def test_an_invalid_pattern_raises_value_error(pattern: Any) -> None:
    with pytest.raises(ValueError, match="pattern"):
        Pattern(pattern)
    with pytest.raises(ValueError, match="pattern"):
        EventBus().subscribe(pattern)


def test_subscribing_to_no_pattern_raises_value_error() -> None:
    with pytest.raises(ValueError, match="pattern"):
        EventBus().subscribe([])


@pytest.mark.parametrize(
    "topic", ["", ".", "a..b", ".a", "a.", "a.*", "a.>", "*", ">", "a b", "a\tb", "a.b\r\n", None]
)
def test_an_invalid_topic_raises_value_error(topic: Any) -> None:
    with pytest.raises(ValueError, match="topic"):
        check_topic(topic)


def test_publishing_on_an_invalid_topic_raises_value_error_and_delivers_nothing() -> None:
    bus = EventBus()
    sub = bus.subscribe(">")
    with pytest.raises(ValueError, match="topic"):
        bus.publish_nowait({"a": 1}, "a.*")
    assert bus.statistics().published == 0
    assert sub.statistics().buffered == 0


@pytest.mark.parametrize("topic", ["a", "market.tick.BTCUSDT", "a.b*.c>", "x.EURUSD%2Em"])
def test_a_valid_topic_is_returned_unchanged(topic: str) -> None:
    assert check_topic(topic) == topic


def reference_matches(pattern: list[str], topic: list[str]) -> bool:
    """Token-by-token recursive definition of a NATS match."""
    if not pattern:
        return not topic
    if pattern[0] == ">":
        return len(topic) >= 1
    if not topic:
        return False
    return pattern[0] in ("*", topic[0]) and reference_matches(pattern[1:], topic[1:])


tokens = st.sampled_from(["a", "b", "c"])
topic_tokens = st.lists(tokens, min_size=1, max_size=5)


@st.composite
def patterns(draw: st.DrawFn) -> list[str]:
    body = draw(st.lists(tokens | st.just("*"), min_size=0, max_size=5))
    if not body or draw(st.booleans()):
        body.append(">")
    return body


@settings(max_examples=100, deadline=None)
@given(patterns(), topic_tokens)
def test_pattern_matching_agrees_with_a_reference(pattern: list[str], topic: list[str]) -> None:
    text, concrete = ".".join(pattern), ".".join(topic)
    assert Pattern(text).matches(concrete) is reference_matches(pattern, topic)
