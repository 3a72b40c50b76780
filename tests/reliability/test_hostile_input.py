"""Hostile input: every input is a valid event or an InvalidEvent; nothing else gets in."""

from __future__ import annotations

import inspect
import math
import sqlite3
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

import schemas
from eventbus import EventBusError
from schemas import InvalidEvent, PositionUpdate, Tick, TradeExecution
from tradebus import Node, ReferenceRefused, TradeIntegration, open_node
from writers import reader_uri

from ._helpers import DATABASE_FILES, SOAK, read_only, tables

_EXAMPLES = 2_000 if SOAK else 200
_NODE_EXAMPLES = 300 if SOAK else 25
_TAGS = [cls.__name__ for cls in schemas.EVENT_TYPES]
_SQL = "'; DROP TABLE trade_executions; --"
_NASTY_TEXT = [
    _SQL,
    "Robert'); DROP TABLE unified_ticks;--",
    '" OR 1=1 --',
    "\\'; DELETE FROM trade_positions WHERE ''='",
    "?1 ?2 :name @x $y",
    "x\x00y",
    "🚀 ünïcödé \u202e",
]
_INT64 = 2**63 - 1
_UINT64 = 2**64 - 1


def deep(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth):
        payload = {"x": payload}
    return payload


# Values msgpack can carry: what a hostile peer could send.
_wire_int = st.integers(min_value=-(2**63), max_value=_UINT64)
_wire_leaf = st.one_of(
    st.none(),
    st.booleans(),
    _wire_int,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(_NASTY_TEXT),
    st.binary(max_size=40),
    st.integers(min_value=0, max_value=3).map(lambda n: "x" * (70_000 * n)),
)
_wire_value = st.recursive(
    _wire_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), _wire_int), children, max_size=4),
    ),
    max_leaves=20,
)


def _check_decoded(data: bytes) -> None:
    """``decode`` returns a valid event or raises InvalidEvent, nothing else."""
    try:
        event = schemas.decode(data)
    except InvalidEvent:
        return
    assert type(event) in schemas.EVENT_TYPES
    schemas.validate(event)  # what decode accepts, validation accepts too
    assert schemas.decode(schemas.encode(event)) == event


@settings(max_examples=_EXAMPLES, deadline=None)
@given(st.binary(max_size=300))
def test_decode_random_bytes(data: bytes) -> None:
    _check_decoded(data)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(
    st.one_of(st.sampled_from(_TAGS), st.text(max_size=20), _wire_leaf),
    st.lists(_wire_value, max_size=14),
)
def test_decode_malformed_events(tag: Any, fields: list[Any]) -> None:
    _check_decoded(msgspec.msgpack.encode([tag, *fields]))


_events = st.one_of(
    st.builds(
        Tick,
        symbol=st.sampled_from(["BTCUSDT", "EURUSD.m", "BRK.B"]),
        bid=st.floats(0.01, 1e6),
        ask=st.floats(0.01, 1e6),
        volume=st.floats(0, 1e6),
        source=st.sampled_from(["", "feed", _SQL]),
    ),
    st.builds(
        TradeExecution,
        ticket=st.integers(1, _INT64),
        symbol=st.just("BTCUSDT"),
        direction=st.just("BUY"),
        entry_price=st.just(100.0),
        volume=st.floats(0.001, 100),
        comment=st.sampled_from(_NASTY_TEXT),
    ),
)


@settings(max_examples=_EXAMPLES, deadline=None)
@given(_events, st.data())
def test_decode_truncated_or_padded_events(event: Any, data: st.DataObject) -> None:
    encoded = schemas.encode(event)
    assert schemas.decode(encoded) == event
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
    with pytest.raises(InvalidEvent):
        schemas.decode(encoded[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=8), label="extra")
    with pytest.raises(InvalidEvent):
        schemas.decode(encoded + extra)


@pytest.mark.parametrize("depth", [33, 1_000, 200_000])
@pytest.mark.parametrize("opener", [b"\x81\xa1x", b"\x91"])
def test_decode_deeply_nested_payloads(depth: int, opener: bytes) -> None:
    head = b"\x93" + schemas.encode("AnalysisResult") + schemas.encode("kind")
    with pytest.raises(InvalidEvent, match=r"payload|malformed"):
        schemas.decode(head + b"\x81\xa1x" + opener * depth + b"\xc0")


def test_decode_rejects_non_bytes() -> None:
    for value in (None, "text", 12, ["Tick"], memoryview(b"")):
        with pytest.raises(InvalidEvent):
            schemas.decode(value)  # type: ignore[arg-type]


# ----------------------------------------------------------------- integration

# Arguments of the integration methods: plausible values (so that validation gets
# past the first field) mixed with hostile ones.
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    # Few tickets: later calls of an example update, close or reuse earlier ones.
    "ticket": st.integers(1, 4),
    "event_id": st.builds(schemas.new_event_id),
    "symbol": st.sampled_from(["BTCUSDT", "EURUSD.m", "XAUUSD"]),
    "direction": st.sampled_from(["BUY", "SELL"]),
    "entry_price": st.just(100.0),
    "stop_loss": st.sampled_from([90.0, 110.0]),
    "take_profit": st.sampled_from([90.0, 110.0]),
    "current_price": st.floats(1, 1000),
    "close_price": st.floats(1, 1000),
    "volume": st.floats(0.01, 10),
    "confidence": st.floats(0, 100),
    "realized_pnl": st.floats(-1e6, 1e6),
    "unrealized_pnl": st.floats(-1e6, 1e6),
    "confluence_score": st.floats(-1, 1),
    "status_code": st.integers(100, 599),
    "duration_ms": st.floats(0, 1e4),
    "method": st.sampled_from(["GET", "POST"]),
    "path": st.sampled_from(["/api/trades", "/x?q=" + _SQL]),
    "status": st.sampled_from(["ok", "alert_triggered", "executed", "rejected"]),
    "alert_type": st.sampled_from(["risk", "profit", "system"]),
    "severity": st.sampled_from(["info", "warning", "critical"]),
    "timeframe": st.sampled_from(["M5", "H1"]),
    "indicators": st.dictionaries(st.sampled_from(["rsi", _SQL]), st.floats(0, 100)),
    "payload": st.dictionaries(st.sampled_from(["a", _SQL]), st.integers()),
    "details": st.one_of(st.sampled_from(_NASTY_TEXT), st.just({"why": _SQL})),
}
_hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(_NASTY_TEXT),
    st.integers(min_value=1, max_value=3).map(lambda n: "y" * (70_000 * n)),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.floats(allow_nan=True), max_size=3),
    st.sampled_from([deep(40), deep(1_000), {1: "int key"}, {"s": {1, 2}}, Decimal("1.5")]),
    st.sampled_from([object(), math.nan, -0.0, float("inf"), 2**64, b"\xff", ("t",)]),
)


def _is_coroutine_method(member: object) -> bool:
    """A method of TradeIntegration that is a coroutine function under its wrapper."""
    return callable(member) and inspect.iscoroutinefunction(inspect.unwrap(member))


_METHODS: list[str] = sorted(
    name
    for name, member in inspect.getmembers(TradeIntegration, _is_coroutine_method)
    if name.startswith(("log_", "update_", "close_"))
)


@st.composite
def integration_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A method and its arguments: plausible ones, none to a few of them hostile."""
    method = draw(st.sampled_from(_METHODS))
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(getattr(TradeIntegration, method)).parameters.items():
        if name == "self":
            continue
        optional = parameter.default is not inspect.Parameter.empty
        if optional and draw(st.booleans()):
            continue
        kwargs[name] = draw(_PLAUSIBLE.get(name, st.text(min_size=1, max_size=20)), label=name)
    for name in draw(st.lists(st.sampled_from(sorted(kwargs) or ["-"]), max_size=2, unique=True)):
        kwargs[name] = draw(_hostile, label=f"hostile {name}")
    return method, kwargs


#: Where each method's event lands: database file, table, and the column its result names.
_STORED_AT = {
    "log_trade_execution": ("unified_tick_pipeline.db", "trade_executions", "event_id"),
    "update_position": ("unified_tick_pipeline.db", "position_updates", "event_id"),
    "close_position": ("unified_tick_pipeline.db", "position_updates", "event_id"),
    "update_recommendation": ("analysis_data.db", "recommendation_updates", "event_id"),
    "log_trade_recommendation": (
        "analysis_data.db",
        "trade_recommendations",
        "recommendation_id",
    ),
    "log_trade_analysis": ("analysis_data.db", "trade_analysis", "event_id"),
    "log_analysis_result": ("analysis_data.db", "analysis_results", "event_id"),
    "log_trade_monitoring": ("system_logs.db", "trade_monitoring", "event_id"),
    "log_trade_alert": ("system_logs.db", "trade_alerts", "event_id"),
    "log_api_request": ("system_logs.db", "api_logs", "event_id"),
    "log_system_health": ("system_logs.db", "system_health", "event_id"),
}


def test_every_logging_method_is_fuzzed() -> None:
    assert set(_METHODS) == set(_STORED_AT)


async def _call(node: Node, method: str, kwargs: dict[str, Any]) -> object:
    integration = node.integration("chatgpt_bot")
    call: Callable[..., Any] = getattr(integration, method)
    return await call(**kwargs)


@settings(max_examples=_NODE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(integration_calls(), min_size=1, max_size=8))
async def test_integration_accepts_or_rejects_hostile_arguments(
    tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    data = tmp_path_factory.mktemp("hostile")  # a new data directory per example
    accepted: list[tuple[str, object]] = []
    async with open_node(data) as node:
        for ticket in (1, 2):  # positions to update and close; tickets 3 and 4 are free
            await node.integration("chatgpt_bot").log_trade_execution(
                ticket=ticket, symbol="BTCUSDT", direction="BUY", entry_price=100.0, volume=1.0
            )
        published = node.bus.published
        for method, kwargs in calls:
            try:
                result = await _call(node, method, kwargs)
            except (InvalidEvent, ReferenceRefused):
                assert node.bus.published == published, "a refused call enqueued something"
                continue
            assert isinstance(result, str)
            published = node.bus.published
            accepted.append((method, result))
        statistics = node.statistics()
    for writer in statistics.writers.values():
        assert writer.dead_letters == 0, writer
        assert writer.last_error is None
    for method, result in accepted:
        filename, table, column = _STORED_AT[method]
        with read_only(data / filename) as conn:
            sql = f"SELECT count(*) FROM {table} WHERE {column} = ?"
            assert conn.execute(sql, (result,)).fetchone() == (1,), (method, result)
    for filename in DATABASE_FILES:
        with read_only(data / filename) as conn:
            assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)


async def test_bus_refuses_what_is_not_a_valid_event(tmp_path: Path) -> None:
    class Foreign(schemas.Event, frozen=True, tag=True, kw_only=True, array_like=True):
        symbol: str

        @property
        def topic(self) -> str:
            return "market.tick.BTCUSDT"

    bad: list[Any] = [
        Tick(symbol="BTCUSDT", bid=math.nan, ask=1.0),
        Tick(symbol="BTCUSDT", bid="50000", ask=1.0),  # type: ignore[arg-type]
        Tick(symbol=_SQL, bid=1.0, ask=2.0),
        Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, ts=-1),
        Tick(symbol="BTCUSDT", bid=1.0, ask=2.0, source={"a": 1}),  # type: ignore[arg-type]
        Tick(symbol="", bid=1.0, ask=2.0),
        TradeExecution(ticket=0, symbol="X", direction="BUY", entry_price=1.0, volume=1.0),
        Foreign(symbol="BTCUSDT"),
    ]
    async with open_node(tmp_path) as node:
        for event in bad:
            with pytest.raises(InvalidEvent):
                node.bus.publish_nowait(event)
            with pytest.raises(InvalidEvent):
                await node.bus.publish(event)
        for junk in (object(), {"type": "Tick"}, b"\x92\xa4Tick", None):
            with pytest.raises((InvalidEvent, EventBusError)):
                node.bus.publish_nowait(junk, topic="market.tick.BTCUSDT")
        assert node.bus.published == 0
    assert _rows(tmp_path / "unified_tick_pipeline.db", "unified_ticks") == []


# ------------------------------------------------------------------ SQL injection


def _rows(path: Path, sql_or_table: str) -> list[tuple[Any, ...]]:
    sql = sql_or_table if " " in sql_or_table else f"SELECT * FROM {sql_or_table}"
    with closing(sqlite3.connect(reader_uri(path), uri=True)) as conn:
        return conn.execute(sql).fetchall()


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


# ------------------------------------------------------------------- event ids


@pytest.mark.parametrize(
    "bad",
    ["zzzz", "A", schemas.new_event_id().upper(), " x ", "\u202e", "0" * 36],
    ids=repr,
)
async def test_an_event_id_of_another_form_is_refused_from_the_bus_and_the_wire(
    tmp_path: Path, bad: str
) -> None:
    # Text order of event_ids decides a position's state: an id of another form would
    # sort anywhere (after every UUIDv7, for "zzzz") and hold the state for ever.
    update = PositionUpdate(
        ticket=7, symbol="BTCUSDT", status="modified", current_price=150.0, event_id=bad
    )
    async with open_node(tmp_path) as node:
        with pytest.raises(
            InvalidEvent, match=r"invalid PositionUpdate\.event_id: expected a UUID"
        ):
            await node.bus.publish(update, wait=True)
        assert node.bus.published == 0
        # From another process, encoded: a node's bus decodes and validates it first.
        with pytest.raises(InvalidEvent, match=r"PositionUpdate\.event_id: expected a UUID"):
            await node.bus.publish_encoded(schemas.encode(update), update.topic, wait=True)
        assert node.bus.published == 0
    main = tmp_path / "unified_tick_pipeline.db"
    assert _rows(main, "position_updates") == []
    assert _rows(main, "SELECT error FROM dead_letters") == []
