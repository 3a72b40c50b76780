"""The parameters the read endpoints share, documented for the OpenAPI document, and
their checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Parameter, QueryParameter, SkipValidation

from schemas import InvalidEvent, check_symbol

from ._context import ApiContext
from ._pages import MAX_CURSOR, MAX_INT64, MAX_TIME, bad_parameter, check_limit
from ._views_base import ErrorBody

__all__ = [
    "PREFIX",
    "RESPONSES",
    "RESPONSES_404",
    "Ctx",
    "Cursor",
    "End",
    "Limit",
    "OptionalSymbol",
    "Since",
    "Start",
    "SymbolParam",
    "TicketFilter",
    "TicketPath",
    "check_choice",
    "check_symbol_param",
    "choice",
    "page_limit",
]

#: Where the read endpoints live.
PREFIX: Final = "/api/v1"

#: What a symbol looks like (as the events' schema requires).
SYMBOL_PATTERN: Final = r"^[A-Za-z0-9^][A-Za-z0-9._/\-:=^#+@&$!]{0,63}$"
_SYMBOL_HELP: Final = (
    "a broker symbol: 1 to 64 letters, digits or ._/-:=^#+@&$!, starting with a letter or a digit"
)
_TIME_DOC: Final = (
    "ns since the Unix epoch (an integer) or an ISO-8601 time (UTC unless it names an "
    "offset, e.g. 2026-01-31T12:00:00Z)"
)

#: The server's context, handed as is (not validated: it is the server's own object).
Ctx = SkipValidation[ApiContext]
Limit = Annotated[
    int | None,
    Parameter(
        ge=1,
        description=(
            "rows per page: 1 to the server's max_limit (1000 unless configured); "
            "default: its default_limit (100 unless configured); a larger one is a 400"
        ),
    ),
]
Cursor = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=MAX_CURSOR,
        description=(
            "the next_cursor of the previous page, unchanged, with the same other "
            "parameters; omit it for the first page"
        ),
    ),
]
Start = Annotated[
    str | None,
    Parameter(
        min_length=1, max_length=MAX_TIME, description=f"from this time on (included): {_TIME_DOC}"
    ),
]
End = Annotated[
    str | None,
    Parameter(
        min_length=1, max_length=MAX_TIME, description=f"before this time (excluded): {_TIME_DOC}"
    ),
]
Since = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_TIME, description=f"at or after this time: {_TIME_DOC}"),
]
SymbolParam = Annotated[
    str,
    Parameter(
        pattern=SYMBOL_PATTERN,
        description=_SYMBOL_HELP,
        examples=[Example(value="EURUSD")],
    ),
]
OptionalSymbol = Annotated[
    str | None,
    Parameter(
        pattern=SYMBOL_PATTERN,
        description=f"only this symbol: {_SYMBOL_HELP}",
        examples=[Example(value="EURUSD")],
    ),
]
TicketPath = Annotated[
    int, Parameter(gt=0, le=MAX_INT64, description="the trade's ticket (a positive integer)")
]
TicketFilter = Annotated[
    int | None,
    Parameter(gt=0, le=MAX_INT64, description="only this ticket (a positive integer)"),
]

#: The errors every read endpoint may answer.
RESPONSES: Final = {
    401: ResponseSpec(
        data_container=ErrorBody,
        description="the bearer token is missing or wrong (when the server needs it for reads)",
        generate_examples=False,
    ),
}
RESPONSES_404: Final = {
    **RESPONSES,
    404: ResponseSpec(
        data_container=ErrorBody, description="no such trade", generate_examples=False
    ),
}


def choice(
    values: Sequence[str], what: str, default: str | None = None, *, query: str | None = None
) -> Any:
    """A query parameter taking one of ``values`` (checked by :func:`check_choice`, which
    names them all in its 400); ``query``: its name, when not the argument's."""
    shown = ", ".join(values)
    tail = f" (default: {default})" if default is not None else ""
    return QueryParameter(
        name=query,
        description=f"{what}: one of {shown}{tail}",
        schema_extra={"enum": list(values)},
    )


def check_choice(name: str, value: str | None, values: Sequence[str]) -> None:
    """:raises ValidationException: unless ``value`` is None or one of ``values``."""
    if value is not None and value not in values:
        raise bad_parameter(name, value, f"allowed: {', '.join(values)}")


def check_symbol_param(name: str, value: str | None) -> None:
    """:raises ValidationException: unless ``value`` is None or a well-formed symbol."""
    if value is None:
        return
    try:
        check_symbol("query", value, name)
    except InvalidEvent:
        raise bad_parameter(name, value, f"not a symbol: {_SYMBOL_HELP}") from None


def page_limit(ctx: ApiContext, limit: int | None) -> int:
    """The rows of a page: ``limit``, or the server's default.

    :raises ValidationException: if ``limit`` is beyond the server's ``max_limit``.
    """
    return check_limit(limit, ctx.options.default_limit, ctx.options.max_limit)
