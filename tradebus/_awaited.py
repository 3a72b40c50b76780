"""Calls that must be awaited: a trade-integration call that never is says so.

``integration.log_trade_alert(...)`` without ``await`` makes a coroutine and drops it:
nothing is stored, and Python's own "coroutine ... was never awaited" warning is easy
to miss. The integration's methods return an :class:`IntegrationCall` instead: the
same coroutine, which, if it is collected without having been awaited, logs an ERROR
on the ``tradebus`` logger and emits a :class:`RuntimeWarning` at the line of the call.
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar, overload

__all__ = ["IntegrationCall", "must_await"]

logger = logging.getLogger("tradebus")

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_Where = tuple[str, int, str]  # the caller's file, line and module
_UNKNOWN: Final[_Where] = ("<unknown>", 0, "tradebus")


class IntegrationCall(Coroutine[Any, Any, T_co]):
    """What a :class:`~tradebus.TradeIntegration` method returns: its coroutine, to be
    awaited (``await integration.log_trade_alert(...)``).

    It is a coroutine in every way that matters (``await`` it, or hand it to
    ``asyncio.create_task``); ``await`` gives what the method returns and raises what
    it raises. One that is garbage-collected without ever being awaited (or started
    as a task) logs an ERROR on the ``tradebus`` logger and emits a
    :class:`RuntimeWarning` at the line of the call, naming the method: nothing was
    stored.
    """

    __slots__ = ("_coro", "_effect", "_name", "_started", "_where")

    def __init__(
        self, coro: Coroutine[Any, Any, T_co], name: str, effect: str, where: _Where
    ) -> None:
        self._coro = coro
        self._name = name
        self._effect = effect
        self._where = where
        self._started = False

    def __await__(self) -> Generator[Any, None, T_co]:
        self._started = True
        return self._coro.__await__()  # awaited steps go straight to the coroutine

    def send(self, value: Any, /) -> Any:
        self._started = True
        return self._coro.send(value)

    @overload
    def throw(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> Any: ...
    @overload
    def throw(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> Any: ...
    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any:
        self._started = True
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._started = True  # closed on purpose: nothing to report
        self._coro.close()

    def __del__(self) -> None:
        if self._started:
            return
        self._coro.close()  # no second, vaguer warning from Python about the coroutine
        filename, lineno, module = self._where
        message = (
            f"{self._name}() was never awaited: {self._effect}. "
            f"Write `await integration.{self._name.rpartition('.')[2]}(...)` "
            "(or use the blocking API, tradebus.get_trade_integration)"
        )
        logger.error("%s (called at %s:%d)", message, filename, lineno)
        warnings.warn_explicit(message, RuntimeWarning, filename, lineno, module=module)

    def __repr__(self) -> str:
        state = "started" if self._started else "not awaited yet"
        return f"<IntegrationCall {self._name}() {state}>"


def must_await(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, IntegrationCall[T]]:
    """``method`` (a coroutine function), returning an :class:`IntegrationCall`.

    The result keeps ``method``'s name, docstring, annotations and signature
    (``__wrapped__``). A call never awaited stored nothing (a ``log_*``, ``update_*`` or
    ``close_*`` method) or read nothing (any other).
    """
    name = f"TradeIntegration.{method.__name__}"
    writes = method.__name__.startswith(("log_", "update_", "close_"))
    effect = "nothing was stored" if writes else "nothing was read"

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> IntegrationCall[T]:
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        where = (
            (caller.f_code.co_filename, caller.f_lineno, caller.f_globals.get("__name__", ""))
            if caller is not None
            else _UNKNOWN
        )
        del frame, caller  # no reference cycle through the frames
        return IntegrationCall(method(*args, **kwargs), name, effect, where)

    call.__qualname__ = name
    return call
