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
from sys import _getframe
from types import CodeType, TracebackType
from typing import Any, ParamSpec, TypeVar, overload

__all__ = ["IntegrationCall", "must_await"]

logger = logging.getLogger("tradebus")

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_Where = tuple[CodeType, int, dict[str, Any]]  # the caller's code, instruction and globals


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

    __slots__ = ("_awaited", "_coro", "_effect", "_name", "_where")

    def __init__(
        self, coro: Coroutine[Any, Any, T_co], name: str, effect: str, where: _Where
    ) -> None:
        self._coro = coro
        self._name = name
        self._effect = effect
        self._where = where
        self._awaited = False

    def __await__(self) -> Generator[Any, None, T_co]:
        # ``await`` drops this object once it has the iterator, before the first step.
        self._awaited = True
        return self._coro.__await__()  # awaited steps go straight to the coroutine

    def send(self, value: Any, /) -> Any:
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
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()  # closed on purpose: nothing to report

    def __del__(self) -> None:
        if self._awaited or inspect.getcoroutinestate(self._coro) != inspect.CORO_CREATED:
            return  # awaited, run as a task, or closed on purpose
        self._coro.close()  # no second, vaguer warning from Python about the coroutine
        code, instruction, caller_globals = self._where
        filename, lineno = code.co_filename, _line(code, instruction)
        module = caller_globals.get("__name__", "")
        message = (
            f"{self._name}() was never awaited: {self._effect}. "
            f"Write `await integration.{self._name.rpartition('.')[2]}(...)` "
            "(or use the blocking API, tradebus.get_trade_integration)"
        )
        logger.error("%s (called at %s:%d)", message, filename, lineno)
        warnings.warn_explicit(message, RuntimeWarning, filename, lineno, module=module)

    def __repr__(self) -> str:
        state = inspect.getcoroutinestate(self._coro).removeprefix("CORO_").lower()
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
        caller = _getframe(1)  # where it was called: its line is worked out if needed
        where = (caller.f_code, caller.f_lasti, caller.f_globals)
        del caller  # no frame kept: no reference cycle through it
        return IntegrationCall(method(*args, **kwargs), name, effect, where)

    call.__qualname__ = name
    return call


def _line(code: CodeType, instruction: int) -> int:
    """The line of ``code`` that the instruction at offset ``instruction`` belongs to."""
    for start, end, line in code.co_lines():
        if start <= instruction < end and line is not None:
            return line
    return code.co_firstlineno
