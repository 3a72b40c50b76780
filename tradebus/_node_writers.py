"""The writers of a node: one per hosted database, plus the outbox writer.

They are made from the hosted roles (a database kept in PostgreSQL gets a
:class:`~writers.PostgresWriter`, every other one a :class:`~writers.WriterActor`);
events for databases owned elsewhere go to the outbox of the first hosted SQLite
writer, or, in a node hosting none, of a client file of its own. Each runs in a task
of the node's task group, in a scope of the node's :class:`WriterShields`; the first
that fails closes the bus, and its error is kept for the refusals that follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from eventbus import EventBus
from writers import (
    OUTBOX_SPEC,
    DatabaseSpec,
    PostgresWriter,
    WriterActor,
    WriterLockError,
    WriterStatistics,
)

from ._delivery import CLIENT_DIR
from ._exceptions import TradebusError
from ._node_shield import WriterShields
from ._topology import Topology
from ._writer_options import DRAIN_TIMEOUT

__all__ = ["MAX_CLIENTS", "NodeWriters"]

logger = logging.getLogger("tradebus")

#: How many processes hosting no role may write outbox files in one data directory.
MAX_CLIENTS = 256


class NodeWriters:
    """The writers of one node.

    :param bus: the node's bus, which they store from (closed when one fails).
    :param topology: the roles and their databases.
    :param hosted: the roles the node hosts.
    :param stores: the hosted databases kept in PostgreSQL: {database name: URL}.
    :param options: what every writer is given.
    :param data_dir: the node's data directory (for a client's outbox file).
    :param path: the file of a database.
    """

    def __init__(
        self,
        bus: EventBus,
        topology: Topology,
        hosted: tuple[str, ...],
        stores: Mapping[str, str],
        options: Mapping[str, Any],
        data_dir: Path,
        path: Callable[[DatabaseSpec], Path],
    ) -> None:
        self.bus = bus
        self.topology = topology
        self.hosted = hosted
        self.stores = stores
        self.options = options
        self.data_dir = data_dir
        self.path = path
        #: The hosted writers that started, by database name.
        self.by_name: dict[str, WriterActor | PostgresWriter] = {}
        #: The databases owned by roles this node does not host: their events go to
        #: the outbox of the first hosted writer (or of a file of its own).
        self.forwarded = tuple(spec for role, spec in topology.owners.items() if role not in hosted)
        #: The writer whose outbox takes the forwarded databases' events.
        self.outbox: WriterActor | None = None
        #: Whether a writer failed (publishes are refused from then on).
        self.failed = False
        #: The error of the first writer that failed.
        self.error: BaseException | None = None
        #: The writers keep running while the services stop, even on a cancellation.
        self.shields = WriterShields()

    @property
    def drain_timeout(self) -> float:
        """How long the writers have to commit what they hold once cancelled."""
        return float(self.options.get("drain_timeout", DRAIN_TIMEOUT))

    async def start(self, task_group: TaskGroup) -> None:
        """Start a writer per hosted role in ``task_group``, and the outbox writer."""
        forward = self.forwarded
        for role in self.hosted:
            spec = self.topology.owned_by(role)
            writer: WriterActor | PostgresWriter
            if spec.name in self.stores:  # hosted, kept in PostgreSQL
                writer = PostgresWriter(
                    self.bus, spec, self.stores[spec.name], role=role, **self.options
                )
            else:
                # The outbox goes to the first hosted SQLite file.
                self.path(spec).parent.mkdir(parents=True, exist_ok=True)
                writer = WriterActor(
                    self.bus, spec, self.path(spec), role=role, forward=forward,
                    **self.options,
                )  # fmt: skip
            await task_group.start(self.run, writer)
            self.by_name[spec.name] = writer
            if forward and isinstance(writer, WriterActor):
                self.outbox, forward = writer, ()
        if forward:  # no role, or only databases kept in PostgreSQL: a file of its own
            self.outbox = await self._start_client_writer(task_group)

    async def _start_client_writer(self, task_group: TaskGroup) -> WriterActor:
        """The writer of this node's own outbox file (it hosts no role): the first
        ``outboxes/client-N.db`` whose lock is free."""
        directory = self.data_dir / CLIENT_DIR
        directory.mkdir(exist_ok=True)
        for n in range(1, MAX_CLIENTS + 1):
            writer = WriterActor(
                self.bus, OUTBOX_SPEC, directory / f"client-{n}.db", role="client",
                forward=self.forwarded, **self.options,
            )  # fmt: skip
            try:
                await task_group.start(self.run, writer)
            except WriterLockError:
                continue  # another process's outbox
            return writer
        raise TradebusError(
            f"{MAX_CLIENTS} processes hosting no role already write outboxes in {directory}"
        )

    async def run(
        self,
        writer: WriterActor | PostgresWriter,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run ``writer`` in a scope of :attr:`shields`; if it fails, refuse publishes
        at once and close the bus."""
        try:
            with self.shields.scope():
                await writer.run(task_status=task_status)
        except BaseException as exc:
            if writer.spec is OUTBOX_SPEC and isinstance(exc, WriterLockError):
                raise  # a client's outbox file taken by another process: it tries the next
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                # A dead writer must not leave a half-alive node: refuse publishes at
                # once, and let the task group cancel the body.
                self.failed = True
                if self.error is None:
                    self.error = exc
                logger.error("writer %s failed: %s; shutting the node down", writer.spec.name, exc)
                self.bus.close()
            raise

    def stopping(self, *, cancelled: bool) -> None:
        """Tell the writers the node stops (what they still run ends within
        ``drain_timeout``); ``cancelled``: cancel them too (they commit what they
        hold and exit)."""
        for writer in self.by_name.values():
            writer.stopping()
        if cancelled:
            self.shields.cancel()

    def takes(self, spec: DatabaseSpec) -> str | None:
        """The name of the writer that takes the events of ``spec`` (stores them, or
        appends them to its outbox), or None if none does."""
        if spec.name in self.by_name:
            return spec.name
        outbox = self.outbox
        return None if outbox is None else outbox.spec.name

    def statistics(self) -> dict[str, WriterStatistics]:
        """Every hosted writer's counters, and the client outbox writer's."""
        stats = {name: writer.statistics() for name, writer in self.by_name.items()}
        outbox = self.outbox
        if outbox is not None and outbox.spec.name not in stats:
            stats[outbox.spec.name] = outbox.statistics()  # a client's outbox file
        return stats
