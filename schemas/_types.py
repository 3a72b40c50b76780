"""Constrained field types shared by the event schemas."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from msgspec import Meta

__all__ = [
    "MAX_INT64",
    "TIMEFRAME_SECONDS",
    "AlertType",
    "Confidence",
    "Count",
    "Direction",
    "HealthStatus",
    "HttpMethod",
    "HttpStatus",
    "ImportStatus",
    "Json",
    "LongText",
    "Money",
    "Name",
    "NonNegative",
    "Outcome",
    "PositionStatus",
    "Positive",
    "Price",
    "RecommendationStatus",
    "Severity",
    "ShortText",
    "Symbol",
    "Ticket",
    "Timeframe",
    "Timestamp",
    "UrlPath",
]

MAX_INT64 = 2**63 - 1

Price = Annotated[float, Meta(gt=0.0, description="a finite price > 0")]
Positive = Annotated[float, Meta(gt=0.0)]
NonNegative = Annotated[float, Meta(ge=0.0)]
Money = float  # profit and loss: any finite number
Confidence = Annotated[float, Meta(ge=0.0, le=100.0)]
Timestamp = Annotated[int, Meta(ge=0, le=MAX_INT64, description="ns since the Unix epoch, UTC")]
Count = Annotated[int, Meta(ge=0, le=MAX_INT64)]
Ticket = Annotated[int, Meta(gt=0, le=MAX_INT64)]
# Symbols are checked against a pattern once per distinct symbol (see _validate).
Symbol = Annotated[str, Meta(min_length=1, max_length=64)]
Name = Annotated[str, Meta(min_length=1, max_length=128)]
ShortText = Annotated[str, Meta(max_length=256)]
LongText = Annotated[str, Meta(max_length=65_536)]
Json = dict[str, Any]
HttpStatus = Annotated[int, Meta(ge=100, le=599)]
HttpMethod = Annotated[str, Meta(pattern=r"^[A-Z]{1,16}$")]
UrlPath = Annotated[str, Meta(min_length=1, max_length=8192)]

Direction = Literal["BUY", "SELL"]
Timeframe = Literal["M1", "M5", "M15", "M30", "H1", "H4", "D1"]
#: The length of each timeframe's interval, in seconds.
TIMEFRAME_SECONDS: Final[dict[str, int]] = {
    "M1": 60,
    "M5": 300,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H4": 14_400,
    "D1": 86_400,
}
PositionStatus = Literal["open", "modified", "closed"]
RecommendationStatus = Literal["pending", "executed", "rejected", "expired", "closed"]
Outcome = Literal["win", "loss", "breakeven"]
AlertType = Literal["risk", "profit", "system"]
Severity = Literal["info", "warning", "critical"]
HealthStatus = Literal["ok", "degraded", "down"]
ImportStatus = Literal["partial", "complete"]
