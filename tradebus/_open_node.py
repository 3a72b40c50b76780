"""``open_node``: how a process starts its node."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext

from schemas import Candle, Timeframe
from writers import Retention, Synchronous

from ._candles import CandleService
from ._candles_options import DEFAULT_TIMEFRAMES, CandlePrice, check_candle_options
from ._exceptions import TradebusError
from ._monitor import MonitorMode, PositionMonitor, check_monitor_mode
from ._node import Node
from ._node_services import ServiceFactory
from ._retention import retention_service
from ._topology import Topology
from ._writer_options import (
    BUSY_TIMEOUT,
    DRAIN_TIMEOUT,
    MAX_BACKOFF,
    MAX_BATCH,
    MAX_BUFFER,
    MAX_DELAY,
    SWITCH_INTERVAL,
    SYNCHRONOUS,
)

__all__ = ["open_node"]


def open_node(
    data_dir: str | os.PathLike[str],
    *,
    roles: Iterable[str] | None = None,
    topology: Topology | None = None,
    max_batch: int = MAX_BATCH,
    max_delay: float = MAX_DELAY,
    synchronous: Synchronous = SYNCHRONOUS,
    max_buffer: int = MAX_BUFFER,
    busy_timeout: float = BUSY_TIMEOUT,
    max_backoff: float = MAX_BACKOFF,
    drain_timeout: float = DRAIN_TIMEOUT,
    switch_interval: float | None = SWITCH_INTERVAL,
    status_file: bool = True,
    retention: Retention | None = None,
    candles: Iterable[Timeframe] | None = DEFAULT_TIMEFRAMES,
    candle_price: CandlePrice = "bid",
    monitor: MonitorMode | None = "observe",
    stores: Mapping[str, str] | None = None,
    contract_sizes: Mapping[str, float] | None = None,
) -> Node:
    """Start a node: ``async with open_node("data") as node: ...``.

    It owns the event bus and one :class:`~writers.WriterActor` per database whose
    owner role it hosts (all roles by default). The data directory is created when
    missing. Leaving the context flushes, drains and closes everything; an error in
    a writer tears the node down and reaches the caller.

    Events for a database whose owner role it does not host go to the outbox in its
    first hosted database's file (in the same transaction as that writer's batch);
    the owner's node delivers them (see :meth:`Node.delivered`). It runs a relay into
    each database it hosts from every other file's outbox.

    :param roles: the roles this process hosts (default: every role of the topology);
        none (``roles=()``) for a process that only publishes (a script, a client): it
        takes no role's lock and writes an outbox file of its own,
        ``outboxes/client-N.db`` in the data directory.
    :param topology: roles -> databases (default: :meth:`Topology.default`).

    The other options are passed to every writer (see :class:`~writers.WriterActor`,
    whose defaults they share): ``max_batch`` events at most per transaction, and
    ``max_delay`` seconds from an event's publish to its commit (the batch is cut early
    enough for that), the ``synchronous`` pragma, ``max_buffer`` events waiting,
    ``busy_timeout`` and ``max_backoff`` seconds for a locked or failing database,
    ``drain_timeout`` seconds to commit what is held at shutdown, and
    ``switch_interval`` (the interpreter's thread switch interval while writers run,
    or None to leave it alone). An unknown option is a ``TypeError``.

    :param candles: the timeframes of the candle service (see :class:`CandleService`),
        which the node hosting the bot's database (the ticks' and candles' home) runs;
        empty (or None) for none. ``candle_price``: the price it charts (``bid``,
        ``ask``, ``mid`` or ``last``).
    :param monitor: the position monitor (see :class:`PositionMonitor`) in the node
        hosting the bot's database: ``observe`` reports stop loss and take profit
        hits (the broker closes the position), ``simulate`` also closes it at the
        tick's price (paper trading), None runs none.
    :param contract_sizes: units per lot by symbol, ``"*"`` for every symbol not
        named (default 1.0), e.g. ``{"EURUSD": 100_000, "XAUUSD": 100}``: the
        monitor's P&L (its simulated closes, its alerts' amounts), the journal's money
        figures and the API's unrealized P&L are price distance x volume x contract
        size, in the symbol's quote currency (kept as ``node.contract_sizes``, see
        :class:`ContractSizes`). A bad one raises ``TradebusError`` naming it.
    :param retention: how long each group of tables keeps its rows (see
        :class:`Retention`); each hosted database's writer prunes what is older, in
        small steps between its transactions. None (the default): nothing is pruned.

    :param stores: the hosted databases kept in PostgreSQL instead of their SQLite
        file, ``{database: "postgresql://user@host:5432/name"}`` (a database by name,
        file name or owner role; each its own PostgreSQL database). The same tables,
        rules and delivery (relays into it commit their cursors with the events).
        Reading it is PostgreSQL's: the node's readers, journal and API refuse it,
        and the services that read it (candles and the monitor for the bot's
        database, retention for any) must be off (``candles=None, monitor=None``).

    With ``status_file`` (the default), the node keeps this process's entry in
    ``shared_memory.json`` in the data directory (see :class:`StatusReporter`): its
    roles, heartbeat, counters and relays, for ``tradebus status`` and ``tradebus up``.
    """
    timeframes, price = check_candle_options(candles, candle_price)
    services: list[ServiceFactory] = []
    if timeframes:
        services.append(
            _in_the_bots_node(
                lambda node, _: CandleService(node, timeframes=timeframes, price=price)
            )
        )
    if monitor is not None:
        check_monitor_mode(monitor)
        # Its simulated closes are logged as the role that owns the bot's database.
        services.append(
            _in_the_bots_node(lambda node, role: PositionMonitor(node, mode=monitor, role=role))
        )
    if retention is not None:
        services.append(retention_service(retention))
    node = Node(
        data_dir,
        roles=roles,
        topology=topology,
        writer_options={
            "max_batch": max_batch,
            "max_delay": max_delay,
            "synchronous": synchronous,
            "max_buffer": max_buffer,
            "busy_timeout": busy_timeout,
            "max_backoff": max_backoff,
            "drain_timeout": drain_timeout,
            "switch_interval": switch_interval,
        },
        status_file=status_file,
        services=services,
        stores=stores,
        contract_sizes=contract_sizes,
    )
    _check_services(node, candles=bool(timeframes), monitor=monitor, retention=retention)
    return node


def _check_services(
    node: Node, *, candles: bool, monitor: MonitorMode | None, retention: Retention | None
) -> None:
    """Refuse the services that read a database the node keeps in PostgreSQL (they
    read SQLite files)."""
    if not node.stores:
        return
    if retention is not None:
        raise TradebusError(
            f"retention prunes SQLite files; {', '.join(node.stores)} "
            "kept in PostgreSQL: pass retention=None (prune there with SQL)"
        )
    bots = node.topology.home(Candle)
    if bots is None or bots.name not in node.stores or node.topology.owner(bots) not in node.roles:
        return
    wanted = [name for name, on in (("candles", candles), ("monitor", monitor is not None)) if on]
    if wanted:
        raise TradebusError(
            f"the {bots.name!r} database is kept in PostgreSQL, and the "
            f"{' and '.join(wanted)} service{'s' if len(wanted) > 1 else ''} read it from "
            f"its SQLite file: pass {', '.join(f'{w}=None' for w in wanted)} to open_node "
            "(or keep it in SQLite)"
        )


def _in_the_bots_node(
    make: Callable[[Node, str], AbstractAsyncContextManager[object]],
) -> ServiceFactory:
    """A service made by ``make(node, role)`` in a node that hosts the bot's database
    (the ticks' and candles' home; ``role``: its owner), nothing in any other node."""

    def factory(node: Node) -> AbstractAsyncContextManager[object]:
        spec = node.topology.home(Candle)
        if spec is None or node.topology.owner(spec) not in node.roles:
            return nullcontext()
        return make(node, node.topology.owner(spec))

    return factory
