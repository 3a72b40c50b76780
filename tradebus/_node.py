"""The node: one event bus and the writers of the roles this process hosts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self

import aiosqlite
import anyio
from anyio.abc import TaskGroup

import schemas
from eventbus import EventBus
from writers import DatabaseSpec, PostgresWriter, WriterActor, check_writer_options, open_reader

from ._contracts import ContractSizes
from ._data_dir import NodeStatistics, ensure_data_dir
from ._delivery import Delivery
from ._exceptions import TradebusError
from ._fork_guard import check_not_a_tainted_fork, node_started, node_stopped
from ._id_floor import observe_stored_event_ids
from ._node_access import check_sqlite, require_role, sqlite_writer
from ._node_readers import SharedReaders
from ._node_services import NodeServices, ServiceFactory
from ._node_teardown import raise_not_running, settle_group
from ._node_writers import NodeWriters
from ._quick_reader import RowSource
from ._routes import unrouted
from ._status_reporter import StatusReporter
from ._stores import check_stores, committed_cursor
from ._topology import Topology

if TYPE_CHECKING:
    from ._integration import TradeIntegration
    from ._journal import Journal

__all__ = ["Node", "NodeStatistics", "ensure_data_dir"]


class Node:
    """The bus plus the writers of the hosted roles. Create with :func:`open_node`
    (``writer_options``: its writer options, by name; ``stores``: the hosted
    databases kept in PostgreSQL, {database: URL}; ``contract_sizes``: units per lot
    by symbol, see :class:`ContractSizes`)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        roles: Iterable[str] | None = None,
        topology: Topology | None = None,
        writer_options: Mapping[str, Any] | None = None,
        status_file: bool = True,
        services: Sequence[ServiceFactory] = (),
        stores: Mapping[str, str] | None = None,
        contract_sizes: Mapping[str, float] | None = None,
    ) -> None:
        self.topology = topology if topology is not None else Topology.default()
        self.data_dir = Path(data_dir)
        if isinstance(roles, str):
            roles = (roles,)  # one role, not its letters
        hosted = self.topology.roles if roles is None else tuple(dict.fromkeys(roles))
        for role in hosted:
            self.topology.owned_by(role)  # raises for unknown roles
        self.roles: tuple[str, ...] = hosted
        #: The hosted databases kept in PostgreSQL: {database name: URL}.
        self.stores: dict[str, str] = check_stores(stores, self.topology, hosted)
        #: What every writer of this node is given (see :func:`open_node`).
        self.writer_options: dict[str, Any] = dict(writer_options or {})
        check_writer_options(**self.writer_options)  # a wrong one is refused now
        #: What the P&L of this node's monitor, journal and API is in: price distance
        #: x volume x the symbol's contract size.
        self.contract_sizes = ContractSizes(contract_sizes)
        self.bus = EventBus(
            admit=schemas.admit, decoder=schemas.decode, on_unrouted=self._refuse_unrouted
        )
        self._writers = NodeWriters(
            self.bus, self.topology, hosted, self.stores, self.writer_options, self.data_dir,
            self.path,
        )  # fmt: skip
        self._delivery: Delivery | None = None
        self._task_group: TaskGroup | None = None
        self._services = NodeServices(services)
        self._readers = SharedReaders(self.path, lambda name: name in self._writers.by_name)
        self._entered = False
        self._running = False
        #: Keeps this process's entry in ``shared_memory.json`` (None: not kept).
        self.status: StatusReporter | None = StatusReporter(self) if status_file else None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a Node can be entered only once")
        check_not_a_tainted_fork()
        self._entered = True
        ensure_data_dir(self.data_dir)
        if self.status is not None:
            await self.status.__aenter__()
        await self.bus.__aenter__()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        node_started()  # its threads start now (node_stopped() at the end of teardown)
        try:
            await self._writers.start(self._task_group)
            # Ids made from now on sort after every id stored (by any earlier run).
            await observe_stored_event_ids(
                self.path(s) for s in self.topology.databases if s.name not in self.stores
            )
            self._running = True
            # Services start before the relays: they see what the relays bring.
            if self._services.factories:
                await self._task_group.start(self._services.run, self)
            outbox = self._writers.outbox
            self._delivery = Delivery(
                self.bus,
                self.data_dir,
                self._writers.by_name,
                {spec.name: self.path(spec) for spec in self.topology.databases},
                None if outbox is None else (outbox, Path(outbox.path)),
                self.stores,
            )
            await self._task_group.start(self._delivery.run)
        except BaseException as exc:
            await self._teardown(exc)
            raise
        # Started: a cancellation from now on stops the services before the writers.
        self._writers.shields.shield()
        self._services.shield()
        return self

    def __enter__(self) -> NoReturn:
        raise TypeError(
            "a node is an async context manager: use `async with open_node(...) as node:` "
            "in an async function (for plain blocking calls from any thread, use "
            "tradebus.get_trade_integration)"
        )

    def __exit__(self, *exc_info: object) -> None:  # pragma: no cover - never entered
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None and not self._writers.failed:
            try:
                # What the services publish as they stop is flushed.
                interrupted = await self._stop_services(None)
                if interrupted is not None:
                    raise interrupted
                await self.bus.flush()
            except BaseException as flush_exc:
                await self._teardown(flush_exc)
                raise
        await self._teardown(exc)

    async def _teardown(self, exc: BaseException | None) -> None:
        """Stop the services, close the bus (writers drain what they hold and exit),
        then wait for them; a cancellation that came meanwhile is raised last."""
        interrupted = await self._stop_services(exc)  # first: they publish as they stop
        await self._close(exc if interrupted is None else interrupted)
        if interrupted is not None:
            raise interrupted

    async def _close(self, exc: BaseException | None) -> None:
        self._running = False
        if self.status is not None:
            self.status.stopping()
        if self._delivery is not None:  # relays first: they publish on the bus
            await self._delivery.stop()
        self.bus.close()
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        # Left by an error (a cancellation, or the body's own): the writers' drain is
        # bounded by drain_timeout, so that the error reaches the caller even when a
        # full disk holds them; left normally, they drain all (the flush waited).
        self._writers.stopping(cancelled=_left_by_error(exc))
        with anyio.CancelScope(shield=True):
            await self._readers.aclose()
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                if cancelled and exc is not None:
                    # The body may have been cancelled by the task group itself (a
                    # writer failed): hand it over so the group can absorb it.
                    await task_group.__aexit__(type(exc), exc, exc.__traceback__)
                else:
                    await task_group.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            settle_group(group, exc)
        finally:
            # Not shielded: the bus's task group scope must exit where it was entered.
            try:
                await self.bus.__aexit__(None, None, None)
            finally:
                node_stopped()
                if self.status is not None:  # last: its final entry has the final counts
                    await self.status.__aexit__(type(exc) if exc else None, exc, None)

    async def _stop_services(self, exc: BaseException | None) -> BaseException | None:
        """Stop the services while the writers store what they publish as they stop
        (for ``drain_timeout`` at most once the node is cancelled or left by an
        error); return the cancellation that reached the node meanwhile, if one did."""
        if self._task_group is None:
            await self._services.stop(exc)
            return None
        return await self._writers.shields.while_services_stop(
            lambda: self._services.stop(exc),
            self._task_group,
            self._writers.drain_timeout,
            cancelled=_left_by_error(exc),
        )

    # ------------------------------------------------------------------ routing

    def _refuse_unrouted(self, topic: str) -> None:
        self._check_running(topic)
        error = unrouted(self.topology, topic)
        if error is not None:
            raise error

    def check_route(self, event: schemas.Event) -> None:
        """Raise :class:`NoRoute` if no role of the topology owns ``event``'s database.

        :raises BusClosed: if a writer of this node failed (its error is the cause).
        :raises TradebusError: if the node is not started (or already closed).
        """
        self._check_running(event.topic)
        if self.topology.home(event) is None:
            self._refuse_unrouted(event.topic)

    def takes(self, event: schemas.Event) -> str | None:
        """The name of the writer of this node that takes ``event`` (stores it, or
        appends it to its outbox), or None if none does."""
        spec = self.topology.home(event)
        return None if spec is None else self._writers.takes(spec)

    async def delivered(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the API's
        """Return once every event this node has published so far is committed in its
        own database: stored by its owner, whether this node hosts it or not.

        Events for databases owned elsewhere are durable once in this node's outbox
        (that is when ``log_*`` returns); this waits until their owners' relays have
        committed them too (however long the owner is down, unless ``timeout``).

        :raises TimeoutError: after ``timeout`` seconds (nothing is lost: delivery goes on).
        :raises NotDelivered: if an owner could not store some of them (its dead_letters
            hold them); each is reported once.
        :raises NotStored: as :meth:`EventBus.flush` raises it.
        :raises TradebusError: if an owner's database in PostgreSQL cannot be read
            (its server is down or does not answer within 10 s; delivery goes on).
        """
        if not self._running:
            state = "closed" if self._entered else "not started"
            raise TradebusError(f"cannot wait for delivery: the node is {state}")
        with anyio.fail_after(timeout):
            await self.bus.flush()
            if self._delivery is not None:
                await self._delivery.delivered()

    def _check_running(self, topic: str) -> None:
        """Refuse a publish unless the node runs: say why (a writer failed, or the
        node is not started or is closed)."""
        if self._writers.error is not None or not self._running:
            raise_not_running(topic, self._writers.error, self._entered)

    # ------------------------------------------------------------------ access

    def integration(self, role: str) -> TradeIntegration:
        """The trade-integration API, logging as ``role``: a role this node hosts, or
        any role of the topology for a node hosting none (a script or a client: its
        events go through its own outbox).

        :raises AccessDenied: if this node hosts roles, and not ``role``.
        """
        from ._integration import TradeIntegration

        if self.roles:
            require_role(self.topology, self.roles, role)
        else:
            self.topology.owned_by(role)  # raises for a role the topology does not have
        return TradeIntegration(self, role)

    def writer(self, database: str | DatabaseSpec) -> WriterActor:
        """The writer of ``database`` (the only write access there is).

        :raises AccessDenied: if this node does not host the database's owner role.
        :raises TradebusError: if the database is kept in PostgreSQL (see
            :meth:`store_writer`).
        """
        return sqlite_writer(self.store_writer(database))

    def store_writer(self, database: str | DatabaseSpec) -> WriterActor | PostgresWriter:
        """The writer of ``database``, in SQLite or in PostgreSQL (``stores``).

        :raises AccessDenied: if this node does not host the database's owner role.
        """
        spec = self.topology.spec(database)
        require_role(self.topology, self.roles, self.topology.owner(spec), spec)
        return self._writers.by_name[spec.name]

    async def cursor_of(self, database: str | DatabaseSpec, source: str) -> int:
        """The last position of ``source`` (the ``origin`` of the ``Headers`` its
        events were published with) committed in ``database``, 0 if none: what a
        relay or a bridge resumes after. Read from the database's SQLite file, or from
        PostgreSQL for a database this node keeps there.
        """
        spec = self.topology.spec(database)
        writer = self._writers.by_name.get(spec.name)
        return await committed_cursor(spec, writer, self.stores, self.path(spec), source)

    def path(self, database: str | DatabaseSpec) -> Path:
        """The file of ``database`` in this node's data directory."""
        return self.data_dir / self.topology.spec(database).filename

    @asynccontextmanager
    async def reader(self, database: str | DatabaseSpec) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection to any database, hosted here or not.

        :raises TradebusError: for a database this node keeps in PostgreSQL.
        """
        check_sqlite(self.topology.spec(database), self.stores, self._writers.by_name)
        async with open_reader(self.path(database)) as conn:
            yield conn

    async def shared_reader(self, database: str | DatabaseSpec) -> aiosqlite.Connection:
        """A read-only connection kept open for the node's lifetime (for quick reads).

        Read it in one hop per query (``await conn.execute_fetchall(...)``), or close
        each cursor before the next await: a statement left open keeps the
        connection's snapshot, and every task reading through it then misses what was
        committed since.

        :raises TradebusError: if the node is not started, or closed.
        """
        return await self._readers.get(self._readable(database))

    async def point_reader(self, database: str | DatabaseSpec) -> RowSource:
        """Like :meth:`shared_reader`, for reads of a few rows by an indexed key
        (``await reader.execute_fetchall(sql, params)``): they run on the calling
        thread, without a hop to a connection's thread, unless the file is busy."""
        return await self._readers.quick(self._readable(database))

    async def reference_reader(self, database: str | DatabaseSpec) -> RowSource:
        """The reader the integration calls check references with (a few rows by an
        indexed key, with SQL of their own): through the writer's own connection when
        this node writes the database and its writer is idle, else as
        :meth:`point_reader` reads."""
        spec = self._readable(database)
        writer = self._writers.by_name.get(spec.name)
        if isinstance(writer, WriterActor):
            return await self._readers.own(spec, writer)
        return await self._readers.quick(spec)

    def _readable(self, database: str | DatabaseSpec) -> DatabaseSpec:
        spec = self.topology.spec(database)
        check_sqlite(spec, self.stores, self._writers.by_name)
        if not self._running:
            state = "closed" if self._entered else "not started"
            raise TradebusError(
                f"cannot read {spec.filename} through the node: it is {state}; use "
                "`async with open_node(...) as node:` (or node.reader(), which works any time)"
            )
        return spec

    async def journal(
        self, ticket: int, *, contract_sizes: Mapping[str, float] | None = None
    ) -> Journal:
        """The whole life of trade ``ticket`` across the three databases, in time order,
        with its summary (see :func:`tradebus.journal`; money figures with
        ``contract_sizes``, else this node's); read-only."""
        from ._journal import journal

        return await journal(self, ticket, contract_sizes=contract_sizes)

    def statistics(self) -> NodeStatistics:
        """The bus's and every hosted writer's counters."""
        return NodeStatistics(
            bus=self.bus.statistics(),
            writers=self._writers.statistics(),
            relays={} if self._delivery is None else self._delivery.statistics(),
        )

    def __repr__(self) -> str:
        return f"<Node {str(self.data_dir)!r} roles={list(self.roles)}>"


def _left_by_error(exc: BaseException | None) -> bool:
    """Whether the node is left by an error or a cancellation (its teardown is then
    bounded by ``drain_timeout``), not by the end of its body or of the generator
    that holds it (``GeneratorExit``: an ordinary close)."""
    return exc is not None and not isinstance(exc, GeneratorExit)
