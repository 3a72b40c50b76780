"""The writer actor: the only writer of one SQLite database file."""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from itertools import chain
from operator import attrgetter
from types import TracebackType
from typing import Any, NamedTuple, Self

import anyio
import anyio.to_thread
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from eventbus import BusClosed, EventBus, Message, Subscription
from schemas import Event, Tick
from schemas import decode as _decode

from ._exceptions import WriterError
from ._gil import DEFAULT_SWITCH_INTERVAL, shortened_switch_interval
from ._lock import WriterLock
from ._specs import DatabaseSpec, Statement
from ._sqlite import (
    TICK_COLUMNS,
    TICK_FIELDS,
    Synchronous,
    is_transient,
    migrate,
    open_write_connection,
    tick_insert_sql,
)

__all__ = ["WriterActor", "WriterStatistics"]

logger = logging.getLogger("writers")

_raw_decode = msgspec.msgpack.Decoder().decode
_astuple = msgspec.structs.astuple
_local = attrgetter("local")
_foreign = attrgetter("foreign")
_SET_TICK_SEQ = (
    "INSERT INTO writer_state (key, value) VALUES ('tick_seq', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DEAD_LETTER = (
    "INSERT INTO dead_letters (topic, seq, event_type, data, error, ts) VALUES (?, ?, ?, ?, ?, ?)"
)
# Rows per multi-row tick INSERT: large, because the SQLite thread has to win the GIL
# back after each statement; smaller if SQLite's bound-variable limit asks for it.
_TICK_CHUNK = 1024
_LAST_SLOT = 1 + TICK_COLUMNS.index("last")  # in the flattened tick parameters
_NONE_AS_NAN: dict[object, float] = {None: math.nan}
_RECENT_COMMITS = 16  # commits whose duration the batch cut allows for
_CHECKPOINT_EVERY = 5.0  # seconds between WAL inspections
_WATCH_FILES_EVERY = 0.1  # seconds an idle writer waits before it looks at its files again
_WAL_STARVED_FRAMES = 250_000  # ~1 GB of WAL that readers keep from being reset


# What undecodable or invalid data from elsewhere raises when decoded (InvalidEvent
# is a ValueError; msgspec's errors and UnicodeDecodeError too, for good measure).
_BAD_ENCODING = (ValueError, msgspec.MsgspecError)
# What SQLite (or binding a value to it) raises for what an event holds: constraint and
# trigger aborts (IntegrityError), SQLITE_TOOBIG / SQLITE_MISMATCH / out-of-range
# values (DataError), a number too large for SQLite, a str that is not valid Unicode.
# Anything else (TypeError, KeyError, AttributeError, "no such column", ...) is a bug
# of the writer or of its spec: it fails loudly instead of hiding data in dead_letters.
_POISON_SQL = (sqlite3.IntegrityError, sqlite3.DataError, OverflowError, UnicodeEncodeError)
_POISON_CODES = frozenset(
    {sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH}
)
#: The files whose identity the writer watches: the database, its WAL and shared memory.
_SIDE_FILES = ("", "-wal", "-shm")


class _Poison(Exception):
    """The batch holds something that retrying will not store."""


class WriterStatistics(NamedTuple):
    """Counters of one writer (see :meth:`WriterActor.statistics`)."""

    database: str
    path: str
    #: Rows written per table (inserted or updated; replays that changed nothing too).
    rows: dict[str, int]
    batches: int
    events: int
    mean_batch: float
    max_batch: int
    last_commit_ms: float
    mean_commit_ms: float
    max_commit_ms: float
    retries: int
    dead_letters: int
    #: Events waiting in the subscription or being written.
    pending: int
    #: Frames in the WAL at the last inspection.
    wal_frames: int
    last_error: str | None


class WriterActor:
    """Consumes its database's topics from the bus in batches; one transaction each.

    Use as ``async with WriterActor(bus, MAIN, path)`` or start it in a task group
    with ``await tg.start(actor.run)``: it is ready once it holds the lock, the schema
    is migrated and it is subscribed.

    :param role: recorded in the lock file, so that a refused writer is told who holds it.
    :param max_batch: commit when this many events are pending...
    :param max_delay: ... or when the oldest pending event has waited this long (s),
        less the longest of the last 16 commits (at most half of it), so that an event
        is committed within about ``max_delay`` of its publish, even with no more traffic.
    :param synchronous: ``PRAGMA synchronous``: NORMAL (an app crash loses nothing
        committed; a power loss may lose the last commits) or FULL.
    :param max_buffer: how many events may wait for this writer before publishers
        feel backpressure.
    :param on_commit: called after each commit with the events it committed (a batch, or
        a part of one bisected around an event that went to dead_letters) and the
        monotonic time.
    :param switch_interval: while the writer runs, the interpreter's thread switch
        interval (``sys.setswitchinterval``) is at most this many seconds, so that the
        SQLite thread wins the GIL back from a busy event loop after each statement
        (CPython's 5 ms default starves it); the previous value is restored when the
        last writer stops. ``None`` leaves the interval alone.
    """

    def __init__(
        self,
        bus: EventBus,
        spec: DatabaseSpec,
        path: str | os.PathLike[str],
        *,
        role: str = "",
        max_batch: int = 5_000,
        max_delay: float = 0.05,
        synchronous: Synchronous = "NORMAL",
        max_buffer: int = 100_000,
        busy_timeout: float = 5.0,
        max_backoff: float = 2.0,
        drain_timeout: float = 30.0,
        on_commit: Callable[[list[Message], float], None] | None = None,
        switch_interval: float | None = DEFAULT_SWITCH_INTERVAL,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not max_delay >= 0:
            raise ValueError(f"max_delay must be >= 0 seconds, got {max_delay}")
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        if switch_interval is not None and not switch_interval > 0:
            raise ValueError(f"switch_interval must be > 0 seconds or None, got {switch_interval}")
        self.bus = bus
        self.spec = spec
        self.path = os.fspath(path)
        self.role = role
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.synchronous: Synchronous = synchronous
        self.max_buffer = max_buffer
        self.busy_timeout = busy_timeout
        self.max_backoff = max_backoff
        self.drain_timeout = drain_timeout
        self.on_commit = on_commit
        self.switch_interval = switch_interval
        self._lock = WriterLock(self.path, role)
        self._conn: Any = None
        self._subscription: Subscription | None = None
        self._scope: anyio.CancelScope | None = None
        self._task_group: TaskGroup | None = None
        self._identity: dict[str, tuple[int, int]] = {}
        self._next_tick_seq = 1
        self._tick_chunk = _TICK_CHUNK
        self._last_inspection = 0.0
        # statistics
        self._rows: dict[str, int] = dict.fromkeys(spec.tables, 0)
        self._batches = 0
        self._events = 0
        self._max_batch_seen = 0
        self._commit_total = 0.0
        self._commit_last = 0.0
        self._recent_commits: collections.deque[float] = collections.deque(maxlen=_RECENT_COMMITS)
        self._commit_max = 0.0
        self._retries = 0
        self._wal_frames = 0
        self._last_error: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self.run)
        except BaseException:
            # run() has ended (start() waits for it). Close the now empty task group
            # without handing it the error, so that the caller gets WriterLockError
            # itself rather than an exception group around it.
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        assert self._task_group is not None
        try:
            await self._task_group.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    def stop(self) -> None:
        """Ask the writer to commit what it holds and buffers, then exit."""
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Take the lock, open and migrate the database, then write until stopped.

        :raises WriterLockError: at once, if another writer holds the database.
        :raises WriterError: if the database cannot be opened, migrated or written.
        """
        # In a thread: it may wait a moment for a racing writer's record, and it may
        # create the database (fsyncs); the event loop serves everyone else meanwhile.
        await anyio.to_thread.run_sync(self._lock.acquire)
        try:
            with shortened_switch_interval(self.switch_interval):
                await self._run_locked(task_status)
        finally:
            self._lock.release()

    async def _run_locked(self, task_status: TaskStatus[None]) -> None:
        self._conn = await open_write_connection(
            self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout
        )
        try:
            await migrate(self._conn, self.spec, self.path)
            self._next_tick_seq = await self._load_tick_seq()
            if self.spec.tick_table is not None:
                self._tick_chunk = await self._conn._execute(
                    _prepare_tick_statements, self._conn, self.spec.tick_table
                )
            self._identity = _identities(self.path)
            subscription = self._subscription = self.bus.subscribe(
                list(self.spec.topics),
                max_buffer=self.max_buffer,
                durable=True,
                name=f"writer:{self.spec.name}",
            )
            failure: Exception | None = None
            try:
                with anyio.CancelScope() as self._scope:
                    task_status.started()
                    try:
                        await self._consume(subscription)
                    except Exception as exc:
                        failure = exc  # nothing more is committed: no drain
                        raise
                    finally:
                        if failure is None:
                            try:
                                with anyio.move_on_after(self.drain_timeout, shield=True):
                                    await self._drain(subscription)
                            except Exception as exc:
                                failure = exc
                                raise
                            finally:
                                self._report_undrained(subscription)
            finally:
                # What it holds unacknowledged is abandoned: whoever waits for it, and
                # every later flush, raises (with the writer's error as the cause).
                subscription.close(error=failure)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_connection()

    async def _consume(self, subscription: Subscription) -> None:
        while True:
            batch: list[Message] | None = None
            # Only the wait is cut short (a batch not yet taken stays buffered, and its
            # age counts from its first publish), never a commit.
            with anyio.move_on_after(_WATCH_FILES_EVERY):
                try:
                    batch = await subscription.receive_batch(self.max_batch, self._cut_after())
                except BusClosed:
                    return
            if batch is None:
                # An idle writer still watches its files: a -wal deleted between two
                # batches holds what was acknowledged before; copy it back in time.
                await self._check_files(0)
                continue
            await self._commit_and_ack(subscription, batch)

    def _cut_after(self) -> float:
        """How long the oldest pending event may wait before the batch is cut.

        ``max_delay`` less the longest of the recent commits (a commit that runs a WAL
        checkpoint takes twice as long as the others), so that an event is committed
        within about ``max_delay`` of its publish, not ``max_delay`` plus a commit;
        never less than half of it, so batches stay batches.
        """
        longest = max(self._recent_commits, default=0.0)
        return max(self.max_delay - longest, self.max_delay / 2)

    async def _drain(self, subscription: Subscription) -> None:
        """Commit what was received but not yet acknowledged, then all that is buffered."""
        held = subscription.unacknowledged()
        if held:
            await self._commit_and_ack(subscription, held)
        while True:
            try:
                batch = subscription.receive_batch_nowait(self.max_batch)
            except BusClosed:
                return
            if not batch:
                return
            await self._commit_and_ack(subscription, batch)

    def _report_undrained(self, subscription: Subscription) -> None:
        stats = subscription.statistics()
        left = stats.buffered + stats.in_flight
        if left and not subscription.closed:
            logger.error(
                "writer %s: %d events could not be committed before shutdown (%s)",
                self.spec.name,
                left,
                self._last_error or "drain timed out",
            )

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        await conn.close()

    async def _load_tick_seq(self) -> int:
        async with self._conn.execute(
            "SELECT value FROM writer_state WHERE key = 'tick_seq'"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 1

    # ----------------------------------------------------------------- committing

    async def _commit_and_ack(self, subscription: Subscription, batch: list[Message]) -> None:
        await self._store(subscription, batch)
        with anyio.CancelScope(shield=True):  # a statement cut short blocks every COMMIT
            await self._inspect_wal()  # after the ack: nobody waits for it

    async def _store(self, subscription: Subscription, batch: list[Message]) -> None:
        """Commit ``batch``, retrying transient faults; poison goes to dead_letters.

        Each part is acknowledged as soon as it is committed (a bisected batch in
        several parts, in order): a stop while a later part retries leaves only what
        is not committed unacknowledged, for the drain to commit, never a part twice.
        """
        try:
            await self._retrying(lambda: self._write(batch), len(batch))
        except _Poison as exc:
            if len(batch) == 1:
                await self._dead_letter(batch[0], exc)
                await self._acknowledge(
                    subscription, batch, {batch[0].seq: f"went to dead_letters: {exc}"}
                )
                return
            middle = len(batch) // 2
            await self._store(subscription, batch[:middle])
            await self._store(subscription, batch[middle:])
            return
        await self._acknowledge(subscription, batch, {})

    async def _acknowledge(
        self, subscription: Subscription, batch: list[Message], failed: dict[int, str]
    ) -> None:
        """Acknowledge ``batch`` (``failed``: seq -> why it is not stored), committed."""
        # A file deleted or replaced during the commit: what was just committed may be
        # in an unlinked file. Never acknowledge what the files may not keep.
        await self._check_files(len(batch))
        subscription.ack(len(batch), failed=failed)
        if self.on_commit is not None:
            self.on_commit(batch, time.monotonic())

    async def _retrying(self, attempt: Callable[[], Awaitable[None]], holding: int) -> None:
        """Run ``attempt`` (shielded) until it succeeds, backing off on transient faults.

        :raises WriterError: on a fault that retrying will not fix, or a bug.
        """
        backoff = 0.05
        while True:
            try:
                with anyio.CancelScope(shield=True):
                    await attempt()
                self._last_error = None
                return
            except (_Poison, WriterError):
                raise
            except sqlite3.Error as exc:
                if not is_transient(exc):
                    raise WriterError(
                        f"writer {self.spec.name!r} cannot write {self.path}: {exc}; the "
                        f"{holding} events it holds are not stored (the writer stops)"
                    ) from exc
                self._retries += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "writer %s: %s; holding %d events, retrying in %.2fs",
                    self.spec.name,
                    self._last_error,
                    holding,
                    backoff,
                )
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:
                raise WriterError(
                    f"writer {self.spec.name!r} failed on a bug, not on the data: "
                    f"{type(exc).__name__}: {exc}; the {holding} events it holds are not "
                    "acknowledged (the writer stops)"
                ) from exc

    async def _write(self, batch: list[Message]) -> None:
        """One transaction: plan the statements, execute them, commit."""
        statements, next_tick_seq = self._plan(batch)
        await self._check_files(len(batch))
        started = time.perf_counter()
        try:
            await self._execute(statements)
        except Exception as exc:
            if _is_poison(exc):
                raise _Poison(f"{type(exc).__name__}: {exc}") from exc
            raise
        elapsed = time.perf_counter() - started
        ticks = next_tick_seq - self._next_tick_seq
        self._next_tick_seq = next_tick_seq
        self._account(batch, statements, ticks, elapsed)

    async def _execute(self, statements: list[Statement]) -> None:
        # The whole transaction in one hop to the connection's thread: every hop
        # back to the event loop waits for the producers to yield, and for the GIL.
        await self._conn._execute(_run_transaction, self._conn, statements)

    async def _check_files(self, holding: int) -> None:
        """Stop if the database, its -wal or its -shm file was deleted or replaced.

        The writer's connection keeps writing into the files it opened: once one is
        unlinked, what it commits is gone at the next crash (and invisible to every
        other connection meanwhile). When the database file itself is still in place,
        every committed transaction is first copied into it from the WAL the
        connection still holds open (a checkpoint), so that nothing acknowledged
        before is lost.

        :raises WriterError: naming the file, and saying what was saved.
        """
        now = _identities(self.path)
        changed = [suffix for suffix, known in self._identity.items() if now.get(suffix) != known]
        if not changed:
            return
        suffix = changed[0]  # the database file first: then nothing can be saved
        name = self.path + suffix
        what = "was replaced by another file" if suffix in now else "vanished"
        if suffix:
            with anyio.CancelScope(shield=True):
                saved = await self._checkpoint_unlinked()
        else:
            saved = (
                "what it committed went to the file it holds open, wherever that is now "
                "(deleted or moved away), and cannot be saved here; restore the data "
                "directory and restart"
            )
        message = (
            f"{name} {what} while its writer ran: refusing to commit or acknowledge "
            f"anything more ({holding} events held are not acknowledged); {saved}"
        )
        error = WriterError(message)
        # The error itself as the argument: a log handler can tell that this record
        # announces the error the writer raises (the CLI says it once).
        logger.error("writer %s: %s", self.spec.name, error)
        raise error

    async def _checkpoint_unlinked(self) -> str:
        """Copy every committed transaction from the (unlinked) WAL into the database.

        A reader's open snapshot keeps a checkpoint from copying the frames after it:
        try again until readers let it (for at most ``drain_timeout``).
        """
        deadline = anyio.current_time() + self.drain_timeout
        while True:
            try:
                async with self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
                    row = await cursor.fetchone()
            except sqlite3.Error as exc:
                return (
                    f"copying the WAL into {self.path} failed ({exc}): committed events may be lost"
                )
            if row is not None and row[1] >= 0 and row[1] == row[2]:
                break  # every frame of the log is in the database file
            if anyio.current_time() >= deadline:
                return (
                    f"copying the WAL into {self.path} was blocked by readers for "
                    f"{self.drain_timeout:g} s: committed events may be lost when the "
                    "writer stops"
                )
            await anyio.sleep(0.05)
        return (
            f"every committed transaction was copied into {self.path} (so every event "
            "acknowledged before is there; the held ones may be too); restart the writer"
        )

    def _plan(self, batch: Sequence[Message]) -> tuple[list[Statement], int]:
        """Turn a batch into statements (ticks on the fast path, the rest per type) and
        the next tick seq (the difference with the current one is the tick count)."""
        tick_seq = self._next_tick_seq
        events: list[Any] = list(map(_local, batch))
        if any(map(_foreign, batch)):
            # Some came from elsewhere: decode them with the schemas (bad data is
            # poison), whatever the bus's decoder may have made of them for others.
            try:
                events = [_decode(m.data) if m.foreign else m.local for m in batch]
            except _BAD_ENCODING as exc:
                raise _Poison(f"{type(exc).__name__}: {exc}") from exc
        table = self.spec.tick_table
        if table is None:  # no fast path to sort ticks out for
            return self._event_statements(events), tick_seq
        statements: list[Statement] = []
        if set(map(type, events)) == {Tick}:
            ticks = events
            others: list[Any] = []
        else:
            ticks = [e for e in events if type(e) is Tick]
            others = [e for e in events if type(e) is not Tick]
        if ticks:
            statements.extend(_tick_statements(table, ticks, tick_seq, self._tick_chunk))
            tick_seq += len(ticks)
            statements.append(("", _SET_TICK_SEQ, [(tick_seq,)]))
        if others:
            statements.extend(self._event_statements(others))
        return statements, tick_seq

    def _event_statements(self, events: Sequence[Any]) -> list[Statement]:
        """Statements for events other than ticks, by their spec's handlers, in order."""
        by_type: dict[type[Event], list[Any]] = {}
        for event in events:
            by_type.setdefault(type(event), []).append(event)
        statements: list[Statement] = []
        for event_type, handler in self.spec.handlers.items():
            of_type = by_type.pop(event_type, None)
            if of_type:
                statements.extend(handler(of_type))
        if by_type:  # published to this database's topics, but of another: the data's fault
            names = ", ".join(t.__name__ for t in by_type)
            raise _Poison(f"the {self.spec.name!r} database does not store {names}")
        return statements

    def _account(
        self, batch: list[Message], statements: list[Statement], ticks: int, elapsed: float
    ) -> None:
        rows = self._rows
        for table, _sql, params in statements:
            if table:  # statements that write no row of their own have none
                rows[table] = rows.get(table, 0) + len(params)
        if ticks:
            assert self.spec.tick_table is not None  # only a tick table counts ticks
            rows[self.spec.tick_table] += ticks
        n = len(batch)
        self._batches += 1
        self._events += n
        self._max_batch_seen = max(self._max_batch_seen, n)
        ms = elapsed * 1000
        self._commit_last = ms
        self._recent_commits.append(elapsed)
        self._commit_total += ms
        self._commit_max = max(self._commit_max, ms)

    async def _dead_letter(self, message: Message, error: BaseException) -> None:
        """Store an event that cannot be stored, with the error; retry if SQLite is sick."""
        event_type = _peek_tag(message.data)
        reason = str(error)
        logger.error(
            "writer %s: %s (topic %s, seq %d) moved to dead_letters: %s",
            self.spec.name,
            event_type or "event",
            message.topic,
            message.seq,
            reason,
        )
        row = (message.topic, message.seq, event_type, message.data, reason, time.time_ns())
        statements: list[Statement] = [("dead_letters", _DEAD_LETTER, [row])]
        await self._retrying(lambda: self._execute(statements), 1)
        self._rows["dead_letters"] += 1

    async def _inspect_wal(self) -> None:
        """Checkpoint now and then; warn when readers keep the WAL from being reset."""
        now = time.monotonic()
        if now - self._last_inspection < _CHECKPOINT_EVERY:
            return
        self._last_inspection = now
        try:
            async with self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error:
            return
        if row is None:
            return
        _busy, frames, checkpointed = row
        self._wal_frames = max(frames, 0)
        if frames > _WAL_STARVED_FRAMES and checkpointed < frames:
            logger.warning(
                "writer %s: the WAL holds %d frames that cannot be checkpointed: a reader "
                "keeps a read transaction open; end it so the WAL can be reset",
                self.spec.name,
                frames - checkpointed,
            )

    # ------------------------------------------------------------------ inspection

    def statistics(self) -> WriterStatistics:
        """Return the writer's counters."""
        pending = 0
        if self._subscription is not None:
            held = self._subscription.statistics()
            pending = held.buffered + held.in_flight
        return WriterStatistics(
            database=self.spec.name,
            path=self.path,
            rows=dict(self._rows),
            batches=self._batches,
            events=self._events,
            mean_batch=self._events / self._batches if self._batches else 0.0,
            max_batch=self._max_batch_seen,
            last_commit_ms=self._commit_last,
            mean_commit_ms=self._commit_total / self._batches if self._batches else 0.0,
            max_commit_ms=self._commit_max,
            retries=self._retries,
            dead_letters=self._rows["dead_letters"],
            pending=pending,
            wal_frames=self._wal_frames,
            last_error=self._last_error,
        )

    def __repr__(self) -> str:
        return f"<WriterActor {self.spec.name} {self.path!r}>"


def _tick_statements(table: str, ticks: list[Tick], first_seq: int, chunk: int) -> list[Statement]:
    """The multi-row INSERTs of ``ticks``: chunks of ``chunk`` rows, then the rest in
    power-of-two chunks (a handful of statements, each compiled once)."""
    # flat[1 + i * TICK_FIELDS :][:TICK_FIELDS] is tick i; a chunk's parameters are
    # the slice that starts one earlier, its first slot overwritten with the seq base.
    flat: list[Any] = [None]
    flat += chain.from_iterable(map(_astuple, ticks))
    # Binding None costs sqlite3 an adapter lookup (about as much as the rest of the
    # row); a NaN binds as NULL for the price of a float. Valid ticks hold no NaN.
    lasts = flat[_LAST_SLOT::TICK_FIELDS]
    flat[_LAST_SLOT::TICK_FIELDS] = map(_NONE_AS_NAN.get, lasts, lasts)
    n = len(ticks)
    statements: list[Statement] = []
    full = n // chunk
    if full:
        chunks = []
        for row in range(0, full * chunk, chunk):
            params = flat[row * TICK_FIELDS : (row + chunk) * TICK_FIELDS + 1]
            params[0] = first_seq + row
            chunks.append(params)
        statements.append(("", tick_insert_sql(table, chunk), chunks))
    row = full * chunk
    size = chunk // 2
    while row < n:
        if n - row >= size:
            params = flat[row * TICK_FIELDS : (row + size) * TICK_FIELDS + 1]
            params[0] = first_seq + row
            statements.append(("", tick_insert_sql(table, size), [params]))
            row += size
        size //= 2
    return statements


def _prepare_tick_statements(conn: Any, table: str) -> int:
    """Choose the tick chunk for the connection's variable limit and compile every
    tick INSERT :func:`_tick_statements` may use (one per chunk size), in its thread.

    Compiling an INSERT of a thousand rows takes milliseconds; done here, it does not
    delay the first batches that use it. sqlite3 has no prepare-only call: executing
    with no parameters compiles and caches the statement, then refuses to run it.
    Returns the chunk.
    """
    raw: sqlite3.Connection = conn._conn
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    chunk = _TICK_CHUNK
    while chunk > 1 and 1 + chunk * TICK_FIELDS > limit:
        chunk //= 2
    size = chunk
    while size:
        try:
            raw.execute(tick_insert_sql(table, size), ())
        except sqlite3.ProgrammingError as exc:
            if "bindings" not in str(exc):  # anything but the expected refusal
                raise
        size //= 2
    return chunk


def _run_transaction(conn: Any, statements: list[Statement]) -> None:
    """Run ``statements`` in one transaction, in the connection's own thread."""
    raw: sqlite3.Connection = conn._conn  # aiosqlite's sqlite3 connection (its thread)
    raw.execute("BEGIN IMMEDIATE")
    try:
        for _table, sql, rows in statements:
            raw.executemany(sql, rows)
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            raw.rollback()
        raise


def _is_poison(exc: Exception) -> bool:
    """Whether SQLite refused what the batch holds (so retrying it is pointless), as
    opposed to a bug (a wrong statement) or a sick database."""
    if isinstance(exc, _POISON_SQL):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and (code & 0xFF) in _POISON_CODES


def _identities(path: str) -> dict[str, tuple[int, int]]:
    """(st_dev, st_ino) of those of the database, -wal and -shm files that exist."""
    identities: dict[str, tuple[int, int]] = {}
    for suffix in _SIDE_FILES:
        try:
            stat = os.stat(path + suffix)
        except OSError:  # missing, or its directory is
            continue
        identities[suffix] = (stat.st_dev, stat.st_ino)
    return identities


def _peek_tag(data: bytes) -> str | None:
    try:
        raw = _raw_decode(data)
    except Exception:
        return None
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        return raw[0][:64]
    return None
