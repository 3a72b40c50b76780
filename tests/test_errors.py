"""One root for every error: ``except tradebus.TradebusError`` catches whatever any
package of tradebus raises, and each error crosses a process boundary intact."""

from __future__ import annotations

import importlib
import pickle
from typing import Any

import pytest

import tradebus
from eventbus import BusClosed, BusFull, EventBus, EventBusError, NotStored
from schemas import InvalidEvent
from tradebus import (
    AccessDenied,
    AlreadyRecorded,
    JournalError,
    NoRoute,
    NotDelivered,
    ReferenceRefused,
    StaleUpdate,
    TickImportError,
    TradebusError,
    UnknownReference,
)
from writers import InvalidOption, SchemaVersionError, WriterError, WriterLockError
from writers._exceptions import error_text

PACKAGES = ["tradebus_errors", "schemas", "eventbus", "writers", "tradebus"]


def public_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found.add(value)
    return found


def test_every_public_exception_of_every_package_is_a_tradebus_error() -> None:
    exceptions = public_exceptions()
    assert len(exceptions) >= 15  # every tree was found, not an empty set
    outside = sorted(cls.__qualname__ for cls in exceptions if not issubclass(cls, TradebusError))
    assert outside == []
    assert tradebus.TradebusError is importlib.import_module("tradebus_errors").TradebusError


def test_the_root_catches_an_error_of_each_package() -> None:
    for error in (
        InvalidEvent("Tick", "bid", -1.0, "must be > 0"),
        BusClosed("the bus is closed"),
        SchemaVersionError("main.db has schema 99"),
        AccessDenied("this node may not write 'main'"),
    ):
        with pytest.raises(TradebusError) as caught:
            raise error
        assert caught.value is error


def test_access_denied_is_not_an_os_error() -> None:
    # No file's permissions are involved: ``except OSError`` around file handling
    # must not swallow a node's refusal.
    assert not issubclass(AccessDenied, OSError)
    assert not issubclass(AccessDenied, PermissionError)


def test_invalid_event_is_still_a_value_error() -> None:
    assert issubclass(InvalidEvent, ValueError)
    with pytest.raises(ValueError, match=r"invalid Tick\.bid: must be > 0"):
        raise InvalidEvent("Tick", "bid", -1.0, "must be > 0")


def test_the_documented_branches_hang_under_the_root() -> None:
    assert issubclass(EventBusError, TradebusError)
    assert issubclass(WriterError, TradebusError)
    for bus_error in (BusFull, BusClosed, NotStored):
        assert issubclass(bus_error, EventBusError)
    for writer_error in (WriterLockError, SchemaVersionError):
        assert issubclass(writer_error, WriterError)
    for refusal in (UnknownReference, AlreadyRecorded, StaleUpdate):
        assert issubclass(refusal, ReferenceRefused)
    assert issubclass(ReferenceRefused, ValueError)
    assert issubclass(NoRoute, LookupError)
    assert issubclass(UnknownReference, LookupError)


def _samples() -> dict[type[BaseException], BaseException]:
    bus = EventBus()
    subscription = bus.subscribe("market.>", name="follower", max_buffer=3)
    refused: dict[str, Any] = {"field": "ticket", "value": 7, "database": "main.db"}
    return {
        TradebusError: TradebusError("something was refused"),
        InvalidEvent: InvalidEvent("TradeExecution", "volume", 0.0, "must be > 0"),
        EventBusError: EventBusError("the bus refused"),
        BusFull: BusFull(subscription),
        BusClosed: BusClosed("the bus is closed"),
        NotStored: NotStored(
            event_type="TradeExecution",
            topic="trade.execution.EURUSD",
            seq=4,
            reason="UNIQUE constraint failed",
            subscription="writer:main",
            more=2,
        ),
        WriterError: WriterError("cannot open main.db"),
        WriterLockError: WriterLockError("/data/main.db", 4242, "desktop_agent"),
        SchemaVersionError: SchemaVersionError("main.db has schema 99"),
        InvalidOption: InvalidOption("max_batch", 2.5, "an int >= 1"),
        AccessDenied: AccessDenied("this node may not write 'main'"),
        NoRoute: NoRoute("no writer in this node stores 'trade.execution.EURUSD'"),
        NotDelivered: NotDelivered(
            "main", "unified_tick_pipeline.db", [(3, "Tick", "invalid Tick.bid")]
        ),
        ReferenceRefused: ReferenceRefused("refused", **refused),
        UnknownReference: UnknownReference("ticket 7 has no execution", **refused),
        AlreadyRecorded: AlreadyRecorded("ticket 7 has another execution", **refused),
        StaleUpdate: StaleUpdate("position 7 is closed", **refused, status="closed"),
        JournalError: JournalError("no trade with ticket 7 in data"),
        TickImportError: TickImportError("cannot tell the format of the file"),
    }


def test_the_pickle_samples_cover_every_public_exception() -> None:
    assert set(_samples()) == public_exceptions()


@pytest.mark.parametrize("name", sorted(cls.__name__ for cls in _samples()))
def test_an_error_survives_a_pickle_round_trip(name: str) -> None:
    samples = {cls.__name__: (cls, error) for cls, error in _samples().items()}
    cls, error = samples[name]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    expected = _public_attributes(error)
    if cls is BusFull:  # a subscription belongs to its process: the copy names it
        expected["subscription"] = None
    assert _public_attributes(copy) == expected


def _public_attributes(error: BaseException) -> dict[str, Any]:
    return {
        name: value if isinstance(value, str | int | float | None) else repr(value)
        for name, value in vars(error).items()
        if not name.startswith("_")
    }


def test_an_invalid_event_naming_a_value_that_cannot_be_pickled_still_crosses_processes() -> None:
    error = InvalidEvent("TradeAlert", "message", lambda: "hostile", "expected a str")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.field, copy.reason) == (InvalidEvent, "message", "expected a str")
    assert str(copy.value).startswith("<function")  # its repr stands in for it
    assert str(copy).startswith("invalid TradeAlert.message: expected a str")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (TimeoutError(), "TimeoutError: no answer in time"),
        (ConnectionResetError(), "ConnectionResetError (no message)"),
        (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    ],
)
def test_a_writer_names_an_error_without_a_message_by_what_it_means(
    error: BaseException, text: str
) -> None:
    """What a writer says of an error in its retry lines and in the WriterError that
    stops it: never a bare ``TimeoutError: `` with nothing after it."""
    assert error_text(error) == text
