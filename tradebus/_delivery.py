"""A node's part in delivery between processes: its relays and its outbox.

For each database the node hosts, a relay per source file: the other databases of
the topology (their owners' outboxes) and the outbox files of processes hosting no
role (``outboxes/*.db``, looked for every second). And the node's own outbox, if it
forwards anything: trimmed as its owners commit what it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus

from eventbus import EventBus
from writers import PostgresWriter, WriterActor

from ._file_watch import FileChanges
from ._outbox import Outbox
from ._relay import Relay, relay_key
from ._relay_stats import RelayStatistics

__all__ = ["CLIENT_DIR", "Delivery"]

logger = logging.getLogger("tradebus")

#: Where processes hosting no role keep their outbox files (in the data directory).
CLIENT_DIR = "outboxes"
#: How often new outbox files of such processes are looked for (seconds).
SCAN_EVERY = 1.0


class Delivery:
    """Relays into ``writers`` (by database name) from every other file of
    ``sources`` and of :data:`CLIENT_DIR`, and ``outbox`` (if any) trimmed.

    :param sources: each database file of the topology, by database name.
    """

    def __init__(
        self,
        bus: EventBus,
        data_dir: Path,
        writers: dict[str, WriterActor | PostgresWriter],
        sources: dict[str, Path],
        outbox: tuple[WriterActor, Path] | None,
        stores: dict[str, str] | None = None,
    ) -> None:
        self.bus = bus
        self.data_dir = data_dir
        self.writers = writers
        self.sources = sources
        self.changes = FileChanges()
        self.relays: dict[str, Relay] = {}
        self.outbox: Outbox | None = None
        if outbox is not None:
            writer, path = outbox
            # Every other database: the file may hold rows from a run that hosted
            # other roles than this one.
            destinations = {name: source for name, source in sources.items() if source != path}
            self.outbox = Outbox(writer, self._name(path), destinations, self.changes, stores)
        self._task_group: TaskGroup | None = None
        self._stopped = anyio.Event()

    def _name(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Relay and trim until :meth:`stop`; ready once every relay is started."""
        try:
            async with self.changes, anyio.create_task_group() as task_group:
                self._task_group = task_group
                if self.outbox is not None:
                    await self.outbox.resume()
                # Every file, this node's own too: they may hold rows from a run that
                # hosted other roles (a relay never reads a file into itself).
                for path in self.sources.values():
                    self._add_source(path)
                task_group.start_soon(self._scan_forever)
                if self.outbox is not None:
                    task_group.start_soon(self.outbox.trim_forever)
                task_status.started()
        finally:
            self._task_group = None
            if self.outbox is not None:
                self.outbox.close()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop relaying and trimming (what was relayed is committed or resumed later),
        and return once every file it read is closed (the writers then remove their
        WAL files on a clean stop: no other connection holds them)."""
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._stopped.wait()

    def _add_source(self, path: Path) -> None:
        """Start the relays from ``path`` into each hosted database (once)."""
        assert self._task_group is not None
        for writer in self.writers.values():
            key = relay_key(self._name(path), writer.spec.name)
            if Path(writer.path) == path or key in self.relays:
                continue
            relay = Relay(self.bus, writer, path, self._name(path), self.changes)
            self.relays[key] = relay
            self._task_group.start_soon(self._run_relay, relay)

    async def _run_relay(self, relay: Relay) -> None:
        """Run ``relay`` (it retries a source it cannot read by itself). What it cannot
        go on from (its writer failed) ends the node; its cursor is committed with
        what it delivered, so the next start resumes exactly there."""
        try:
            await relay.run()
        except Exception:
            if self.bus.closed:
                return  # the node is stopping
            raise

    async def _scan_forever(self) -> None:
        directory = self.data_dir / CLIENT_DIR
        while True:
            if self.writers:
                for path in sorted(directory.glob("*.db")) if directory.is_dir() else ():
                    self._add_source(path)
            await anyio.sleep(SCAN_EVERY)

    def statistics(self) -> dict[str, RelayStatistics]:
        return {key: relay.statistics() for key, relay in self.relays.items()}

    async def delivered(self) -> None:
        if self.outbox is not None:
            await self.outbox.delivered()
