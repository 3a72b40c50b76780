"""The blocking trade-integration API: ``get_trade_integration(role)``.

For synchronous code (broker SDKs, MetaTrader bridges, scripts): every method of
:class:`~tradebus.TradeIntegration` as a plain call that returns once its event is
committed, from any thread. The node runs in an event loop of its own, in a
background thread.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._exceptions import TradebusError
from ._integration import TradeIntegration
from ._sync_loop import Mode, NodeThread

__all__ = ["SyncTradeIntegration", "get_trade_integration"]

logger = logging.getLogger("tradebus")

P = ParamSpec("P")
T = TypeVar("T")

_open: dict[tuple[str, str], SyncTradeIntegration] = {}  # (role, data dir) -> the open one
_open_guard = threading.Lock()


#: The pid of the parent this process was forked from while an integration ran in it
#: (0: none): SQLite is not safe to use in such a child.
_forked_from = 0


def _forget_in_a_forked_child() -> None:
    """A forked child starts with none open (the parent's run in the parent's threads),
    and a fresh lock (another thread of the parent may have held it at the fork)."""
    global _open_guard, _forked_from
    if any(not integration.closed for integration in _open.values()):
        _forked_from = os.getppid()
    _open_guard = threading.Lock()
    _open.clear()


os.register_at_fork(after_in_child=_forget_in_a_forked_child)


def get_trade_integration(
    role: str, data_dir: str | os.PathLike[str] = "data", **options: Any
) -> SyncTradeIntegration:
    """The blocking trade-integration API of ``role`` in ``data_dir``.

    One per role and data directory in a process: while it is open, asking again
    returns the same one (closing it closes it for everyone who holds it; asking
    after that opens a new one). ``options`` are :func:`~tradebus.open_node`'s
    (``max_batch``, ``synchronous``, ``topology``, ...); an unknown one is a
    ``TypeError``.

    :raises TradebusError: if ``role`` is not a role of the topology, or one is open
        for the role and directory with other options, or this process was forked
        from one that ran a blocking integration (start a new process instead).
    """
    if _forked_from:
        # Another thread of the parent may have been inside SQLite at the fork, holding
        # one of its process-wide mutexes: the first SQLite call here could wait forever.
        raise TradebusError(
            f"this process is a fork of process {_forked_from}, which ran a blocking "
            "integration (its threads were using SQLite at the fork, and SQLite cannot be "
            "used safely after that): start a new process instead (subprocess, or "
            "multiprocessing with the 'spawn' or 'forkserver' start method)"
        )
    key = (role, os.path.realpath(data_dir))
    with _open_guard:
        found = _open.get(key)
        if found is not None and not found.closed and found.pid == os.getpid():
            if found.options != options:
                raise TradebusError(
                    f"the blocking integration of role {role!r} in {data_dir} is open "
                    f"already with other options ({found.options} instead of {options}): "
                    "close it first, or ask for it with the same options"
                )
            return found
        integration = SyncTradeIntegration(role, data_dir, **options)
        _open[key] = integration
        return integration


def _blocking(
    method: Callable[Concatenate[TradeIntegration, P], Awaitable[T]],
) -> Callable[Concatenate[SyncTradeIntegration, P], T]:
    """``method`` of :class:`TradeIntegration` as a blocking method, with its name,
    docstring and signature (it waits for what the coroutine returns, and raises what
    it raises)."""

    @functools.wraps(method)
    def call(self: SyncTradeIntegration, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._call(method, *args, **kwargs)

    call.__qualname__ = f"SyncTradeIntegration.{method.__name__}"
    call.__module__ = __name__
    return call


class SyncTradeIntegration:
    """:class:`~tradebus.TradeIntegration`'s methods as blocking calls, safe from any
    thread at once. Get one with :func:`get_trade_integration`.

    Each call returns once its event is committed (what the coroutine returns, it
    returns; what it raises, it raises). It runs a node in an event loop of its own,
    in a background thread:

    - ``mode == "host"``: the role's writer lock was free, so this process hosts the
      role (its database's only writer). Events of other roles' databases go through
      its outbox, and their owners' relays commit them.
    - ``mode == "client"``: another process runs the role's writer (``tradebus run``,
      or another program); this one hosts no role and writes its events to an outbox
      file of its own, ``DATA/outboxes/client-N.db``. A call returns once the event is
      committed there; the owner's relay then commits it into its database.

    :meth:`delivered` waits until what went through an outbox is in its database too.

    It flushes and closes on :meth:`close`, at the end of a ``with`` block, and at
    interpreter exit. A call after that is a :class:`~tradebus.TradebusError`; so is a
    call from a thread running an event loop (an ``async def``): use the async API
    there (``async with open_node(...) as node: node.integration(role)``).
    """

    def __init__(
        self, role: str, data_dir: str | os.PathLike[str] = "data", **options: Any
    ) -> None:
        _refuse_in_event_loop("get_trade_integration", role)
        self.role = role
        #: The process that opened it (and runs its loop thread).
        self.pid = os.getpid()
        #: The node options it was opened with.
        self.options: dict[str, Any] = dict(options)
        self._loop = NodeThread(role, data_dir, self.options)
        #: The data directory (absolute).
        self.data_dir: Path = self._loop.data_dir
        #: ``"host"`` (this process hosts ``role``) or ``"client"`` (another does).
        self.mode: Mode = self._loop.mode
        self._integration = self._loop.node.integration(role)
        self._guard = threading.Condition()
        self._calls = 0  # calls under way
        self._closing = False
        self._closed = threading.Event()
        atexit.register(self._close_at_exit)
        holder = self._loop.holder
        if holder is None:
            logger.info(
                "%s logs in host mode in %s (this process hosts the role)", role, self.data_dir
            )
        else:
            logger.info(
                "%s logs in client mode in %s: its writer runs in another process (%s); "
                "events are committed to this process's outbox, and that writer's relay "
                "stores them in %s",
                role,
                self.data_dir,
                "pid unknown" if holder.pid is None else f"pid {holder.pid}",
                Path(holder.path).name,
            )

    # ------------------------------------------------------------------ calls

    def _call(
        self,
        method: Callable[Concatenate[TradeIntegration, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return self._run(
            method.__name__, functools.partial(method, self._integration, *args, **kwargs)
        )

    def _run(self, name: str, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` in the node's loop and wait for what it returns (raises)."""
        _refuse_in_event_loop(name, self.role)
        if os.getpid() != self.pid:
            raise TradebusError(
                f"cannot call {name}(): the blocking integration of role "
                f"{self.role!r} was opened by process {self.pid}, and this process is a "
                "fork of it, without its thread; call tradebus.get_trade_integration() "
                "in this process for one of its own; nothing was done"
            )
        with self._guard:
            if self._closing:
                raise TradebusError(
                    f"cannot call {name}(): the blocking integration of role "
                    f"{self.role!r} in {self.data_dir} is closed; get a new one with "
                    f"tradebus.get_trade_integration({self.role!r}, ...); nothing was done"
                )
            self._calls += 1
        try:
            return self._loop.call(func)
        finally:
            with self._guard:
                self._calls -= 1
                if not self._calls:
                    self._guard.notify_all()

    log_trade_recommendation = _blocking(TradeIntegration.log_trade_recommendation)
    update_recommendation = _blocking(TradeIntegration.update_recommendation)
    log_trade_analysis = _blocking(TradeIntegration.log_trade_analysis)
    log_analysis_result = _blocking(TradeIntegration.log_analysis_result)
    log_trade_execution = _blocking(TradeIntegration.log_trade_execution)
    update_position = _blocking(TradeIntegration.update_position)
    close_position = _blocking(TradeIntegration.close_position)
    log_trade_monitoring = _blocking(TradeIntegration.log_trade_monitoring)
    log_trade_alert = _blocking(TradeIntegration.log_trade_alert)
    log_api_request = _blocking(TradeIntegration.log_api_request)
    log_system_health = _blocking(TradeIntegration.log_system_health)
    set_exit_rules = _blocking(TradeIntegration.set_exit_rules)
    register_oco = _blocking(TradeIntegration.register_oco)
    recent_ticks = _blocking(TradeIntegration.recent_ticks)
    open_positions = _blocking(TradeIntegration.open_positions)
    recommendations = _blocking(TradeIntegration.recommendations)
    alerts = _blocking(TradeIntegration.alerts)

    def delivered(self, timeout: float | None = None) -> None:
        """Return once every event logged through this process's node so far is
        committed in its own database, by its owner (see :meth:`Node.delivered`).

        A ``log_*`` call returns once its event is durable: in its database, or in
        this process's outbox when another process owns the database (client mode,
        or an event of another role's database). This waits until the owners' relays
        have committed those too, however long an owner is down, unless ``timeout``.

        :raises TimeoutError: after ``timeout`` seconds (nothing is lost: delivery
            goes on).
        :raises NotDelivered: if an owner could not store some of them (its
            ``dead_letters`` hold them).
        """
        self._run("delivered", functools.partial(self._loop.node.delivered, timeout))

    # -------------------------------------------------------------- lifecycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (calls are refused from then on)."""
        return self._closing

    def close(self) -> None:
        """Wait for the calls under way, then flush and close the node and stop its
        thread. A second call waits for the first to finish, then does nothing.

        :raises TradebusError: if called from a thread running an event loop.
        """
        _refuse_in_event_loop("close", self.role)
        if os.getpid() != self.pid:
            self._closing = True  # a fork's copy: the node is the parent's to close
            return
        with self._guard:
            first = not self._closing
            self._closing = True
            while self._calls:
                self._guard.wait()
        if not first:
            self._closed.wait()
            return
        try:
            self._loop.close()
        finally:
            self._closed.set()
            atexit.unregister(self._close_at_exit)
            with _open_guard:
                key = (self.role, os.path.realpath(self.data_dir))
                if _open.get(key) is self:
                    del _open[key]

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:
            logger.exception(
                "closing the blocking integration of role %r in %s at exit failed",
                self.role,
                self.data_dir,
            )

    def __enter__(self) -> SyncTradeIntegration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closing else self.mode
        return f"<SyncTradeIntegration role={self.role!r} {state} {str(self.data_dir)!r}>"


def _refuse_in_event_loop(name: str, role: str) -> None:
    """Refuse a blocking call from a thread that runs an event loop: it would stall that
    loop (and deadlock, were it the loop the call needs)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop runs in this thread: blocking is fine
    raise TradebusError(
        f"{name}() of the blocking API was called in a thread running an event loop "
        "(from an async function), where blocking would stall the loop; nothing was "
        "done. Use the async API there: `async with open_node(data_dir, roles=["
        f"{role!r}]) as node: await node.integration({role!r}).<method>(...)`"
    )
