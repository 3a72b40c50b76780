"""Every public name is exported, once, and the names of the public API exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["schemas", "eventbus", "writers", "tradebus"]

# The public API the README documents: applications rely on these names; they stay.
CONTRACT = {
    "schemas": [
        "Event",
        "Tick",
        "Candle",
        "TradeExecution",
        "PositionUpdate",
        "TradeRecommendation",
        "RecommendationUpdate",
        "TradeAnalysis",
        "AnalysisResult",
        "TradeMonitoring",
        "TradeAlert",
        "ApiLog",
        "SystemHealth",
        "AnyEvent",
        "encode",
        "decode",
        "validate",
        "InvalidEvent",
    ],
    "eventbus": ["EventBus", "Subscription", "Message", "EventBusError", "BusFull", "BusClosed"],
    "writers": [
        "WriterActor",
        "DatabaseSpec",
        "MAIN",
        "ANALYSIS",
        "LOGS",
        "open_reader",
        "WriterError",
        "WriterLockError",
    ],
    "tradebus": [
        "open_node",
        "Node",
        "TradeIntegration",
        "Topology",
        "AccessDenied",
        "NoRoute",
        "ReferenceRefused",
        "UnknownReference",
        "AlreadyRecorded",
    ],
}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_is_importable_from_the_package(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(module.__all__) <= set(namespace)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_has_no_duplicates(package: str) -> None:
    names = importlib.import_module(package).__all__
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package", PACKAGES)
def test_the_names_of_the_public_api_are_public(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in CONTRACT[package] if name not in module.__all__]
    assert missing == []


def test_the_event_bus_has_its_public_methods() -> None:
    from eventbus import EventBus

    for method in ("publish_nowait", "publish", "publish_threadsafe", "subscribe", "flush"):
        assert callable(getattr(EventBus, method))
    assert callable(EventBus.statistics)


def test_the_error_trees_are_rooted_as_documented() -> None:
    from eventbus import BusClosed, BusFull, EventBusError
    from schemas import InvalidEvent
    from writers import WriterError, WriterLockError

    assert issubclass(InvalidEvent, ValueError)
    assert issubclass(BusFull, EventBusError)
    assert issubclass(BusClosed, EventBusError)
    assert issubclass(WriterLockError, WriterError)
