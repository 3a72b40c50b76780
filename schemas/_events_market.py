"""Market events: quotes (:class:`Tick`), OHLCV bars (:class:`Candle`) and the progress
of an import of historical ticks (:class:`TickImport`), on ``market.*`` topics."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from ._event_base import Event
from ._symbols import tick_topics
from ._time import now_ns
from ._topics import symbol_token
from ._types import (
    Count,
    ImportStatus,
    LongText,
    Name,
    NonNegative,
    Price,
    ShortText,
    Symbol,
    Timeframe,
    Timestamp,
)

__all__ = ["Candle", "Tick", "TickImport"]

#: The cached topic of a tick's symbol (bound once: a method lookup per tick costs).
_tick_topic = tick_topics.get


class Tick(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """A top-of-book quote (and optionally the last trade) for one symbol."""

    topic_prefix: ClassVar[str] = "market.tick"

    symbol: Symbol
    bid: Price
    ask: Price
    last: Price | None = None
    volume: NonNegative = 0.0
    source: ShortText = ""
    ts: Timestamp = msgspec.field(default_factory=now_ns)

    @property
    def topic(self) -> str:
        topic = _tick_topic(self.symbol)
        if topic is None:
            topic = f"market.tick.{symbol_token(self.symbol)}"
        return topic


class Candle(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """An OHLCV bar of one timeframe, opened at ``ts_open``."""

    topic_prefix: ClassVar[str] = "market.candle"

    symbol: Symbol
    timeframe: Timeframe
    ts_open: Timestamp
    open: Price
    high: Price
    low: Price
    close: Price
    volume: NonNegative = 0.0
    tick_count: Count = 0
    ts: Timestamp = msgspec.field(default_factory=now_ns)
    #: False while its interval may still take ticks: the bar in progress, or the one
    #: in progress when the candle service stopped (it completes it when it restarts).
    complete: bool = True
    #: How many times the bar was changed after it was first stored complete (by a
    #: late tick, or a rebuild from the stored ticks).
    revision: Count = 0
    #: The timestamps of its first and last tick (None: not known, as for bars made
    #: before they were recorded); a late tick becomes the open or the close by them.
    first_tick_ts: Timestamp | None = None
    last_tick_ts: Timestamp | None = None

    @property
    def topic(self) -> str:
        return f"market.candle.{self.timeframe}.{symbol_token(self.symbol)}"


class TickImport(Event, frozen=True, tag=True, kw_only=True, array_like=True):
    """How far an import of a file of historical ticks got (``tradebus import ticks``).

    One row per (file content, symbol), published before the import's first tick and
    after each chunk of its ticks, in the same stream: the ticks of every line up to
    the committed row's ``position`` are stored. An import resumes after it, and
    skips a file already ``complete``.
    """

    topic_prefix: ClassVar[str] = "market.tick_import"

    #: The SHA-256 of the file's content (hex): the same file under any name.
    file_hash: Name
    symbol: Symbol
    #: The file's name as given to the import (informational).
    filename: LongText = ""
    #: The format it was read as: csv, histdata, truefx or mt5.
    format: Name
    #: The last line of the file whose ticks are committed (1 is the first line).
    position: Count = 0
    #: The byte offset just after that line.
    byte_offset: Count = 0
    #: Ticks committed so far, and bad rows skipped so far.
    ticks: Count = 0
    skipped: Count = 0
    first_ts: Timestamp | None = None
    last_ts: Timestamp | None = None
    status: ImportStatus = "partial"
    ts: Timestamp = msgspec.field(default_factory=now_ns)

    @property
    def topic(self) -> str:
        return f"market.tick_import.{symbol_token(self.symbol)}"
