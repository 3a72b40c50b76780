"""A node's writer options: named, typed, with the writers' own defaults."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from schemas import Tick
from tradebus import Node, open_node
from writers import WriterActor

OPTIONS = (
    "max_batch",
    "max_delay",
    "synchronous",
    "max_buffer",
    "busy_timeout",
    "max_backoff",
    "drain_timeout",
    "switch_interval",
)

# Every option away from its default, to see that each one reaches the writers.
CHOSEN: dict[str, Any] = {
    "max_batch": 7,
    "max_delay": 0.25,
    "synchronous": "FULL",
    "max_buffer": 321,
    "busy_timeout": 1.5,
    "max_backoff": 0.3,
    "drain_timeout": 4.0,
    "switch_interval": 0.001,
}


def _keywords(function: Any) -> dict[str, inspect.Parameter]:
    return {
        name: parameter
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_open_node_takes_each_writer_option_by_name_and_nothing_else() -> None:
    keywords = _keywords(open_node)
    assert list(keywords) == [
        "roles", "topology", *OPTIONS, "status_file", "retention", "candles", "candle_price",
        "monitor", "stores", "contract_sizes",
    ]  # fmt: skip
    kinds = {p.kind for p in inspect.signature(open_node).parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    # Node (made by open_node) takes them as one mapping, checked the same way.
    assert list(_keywords(Node)) == [
        "roles",
        "topology",
        "writer_options",
        "status_file",
        "services",
        "stores",
        "contract_sizes",
    ]


def test_the_defaults_of_open_node_are_the_writers_defaults() -> None:
    writer = _keywords(WriterActor)
    keywords = _keywords(open_node)
    for option in OPTIONS:
        assert keywords[option].default == writer[option].default, option
        assert keywords[option].annotation == writer[option].annotation, option
    unchanged = [option for option in OPTIONS if CHOSEN[option] == writer[option].default]
    assert unchanged == []  # CHOSEN really changes each one


def test_a_misspelt_writer_option_is_a_type_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="max_batchsize"):
        open_node(tmp_path, max_batchsize=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_batchsize"):
        Node(tmp_path, writer_options={"max_batchsize": 10})
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


async def test_each_writer_option_reaches_every_writer(tmp_path: Path) -> None:
    async with open_node(tmp_path, **CHOSEN) as node:
        for database in ("main", "analysis", "logs"):
            writer = node.writer(database)
            assert {option: getattr(writer, option) for option in OPTIONS} == CHOSEN
        await node.bus.publish(Tick(symbol="EURUSD", bid=1.1, ask=1.2), wait=True)
    assert node.writer_options == CHOSEN
