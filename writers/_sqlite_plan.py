"""Turning a batch of messages into SQLite statements: ticks on a fast path, the rest
by their spec's handlers."""

from __future__ import annotations

import math
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec

from eventbus import Message
from schemas import Event, Tick
from schemas import decode as _decode

from ._outbox_plan import append_statements
from ._specs import DatabaseSpec, Statement
from ._sqlite import TICK_COLUMNS, TICK_FIELDS, tick_insert_sql
from ._sqlite_outbox import ADVANCE_CURSOR
from ._store import Poison
from ._tables import OUTBOX

__all__ = [
    "Planner",
    "SqliteTransaction",
    "prepare_tick_statements",
    "relay_cursors",
    "tick_statements",
]

_SET_TICK_SEQ = (
    "INSERT INTO writer_state (key, value) VALUES ('tick_seq', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
#: Rows per multi-row tick INSERT: large, so that a batch takes few statements (the
#: SQLite thread binds each one's parameters holding the GIL, then steps it without);
#: smaller if SQLite's bound-variable limit asks for it (1 + 4096 * 7 <= 32,766).
TICK_CHUNK = 4096
#: Below this many rows, what is left of a batch goes in one statement of its size
#: (a handful of small statements, each compiled once and cached); above, in chunks
#: halving from the full one.
_SMALL = 64
_LAST_SLOT = 1 + TICK_COLUMNS.index("last")  # in the flattened tick parameters
_NONE_AS_NAN: dict[object, float] = {None: math.nan}
_astuple = msgspec.structs.astuple
_local = attrgetter("local")
# The messages of one publish path share an envelope: looking at each batch's few
# envelopes costs less than asking every message whether it is foreign.
_envelope = attrgetter("envelope")
_headers = attrgetter("headers")
_NO_HEADERS: frozenset[None] = frozenset({None})
# What undecodable or invalid data from elsewhere raises when decoded (InvalidEvent
# is a ValueError; msgspec's errors and UnicodeDecodeError too, for good measure).
_BAD_ENCODING = (ValueError, msgspec.MsgspecError)


class SqliteTransaction:
    """Statements to run in one transaction, the tick seqs and outbox positions they
    use, and the first and last position they append for each database (``outbox``)."""

    __slots__ = ("next_outbox_seq", "next_tick_seq", "outbox", "rows", "statements")

    def __init__(
        self,
        statements: list[Statement],
        rows: Mapping[str, int],
        next_tick_seq: int,
        next_outbox_seq: int,
        outbox: Mapping[str, list[int]] | None = None,
    ) -> None:
        self.statements = statements
        self.rows = rows
        self.next_tick_seq = next_tick_seq
        self.next_outbox_seq = next_outbox_seq
        self.outbox = outbox or {}


class Planner:
    """Plans transactions for one database (see :meth:`plan`).

    :param forward: the databases whose events this writer appends to its outbox
        (their owner runs elsewhere), instead of storing them.
    """

    def __init__(
        self, spec: DatabaseSpec, chunk: int = TICK_CHUNK, forward: Sequence[DatabaseSpec] = ()
    ) -> None:
        self.spec = spec
        self.chunk = chunk
        #: Where each forwarded event type goes.
        self.forward: dict[type[Event], str] = {
            event_type: other.name for other in forward for event_type in other.event_types
        }

    def plan(
        self, batch: Sequence[Message], tick_seq: int, outbox_seq: int = 1
    ) -> SqliteTransaction:
        """The transaction storing ``batch``; its ticks take seqs from ``tick_seq`` on,
        the events it forwards outbox positions from ``outbox_seq`` on.

        :raises Poison: for data from elsewhere that does not decode, or an event
            this database neither stores nor forwards.
        """
        cursors: list[Statement] = []
        if any(envelope.foreign for envelope in set(map(_envelope, batch))):
            # Some came from elsewhere: decode them with the schemas (bad data is
            # poison), whatever the bus's decoder may have made of them for others.
            try:
                events: list[Any] = [_decode(m.data) if m.foreign else m.event for m in batch]
            except _BAD_ENCODING as exc:
                raise Poison(f"{type(exc).__name__}: {exc}") from exc
        else:  # every event is the object published in this process
            events = list(map(_local, batch))
        if set(map(_headers, batch)) != _NO_HEADERS:
            cursors = relay_cursors(batch)  # a relay's: committed with its events
        statements: list[Statement] = []
        outbox: dict[str, list[int]] = {}
        appended = 0
        if self.forward and not self.forward.keys().isdisjoint(set(map(type, events))):
            events, outbox_seq, appended = append_statements(
                self.forward, batch, events, outbox_seq, statements, outbox
            )
        table = self.spec.tick_table
        first_tick = tick_seq
        if table is None or not events:  # no fast path to sort ticks out for
            statements.extend(self._event_statements(events))
            ticks: list[Any] = []
        elif set(map(type, events)) == {Tick}:
            ticks = events
        else:
            ticks = [e for e in events if type(e) is Tick]
            others = [e for e in events if type(e) is not Tick]
            statements.extend(self._event_statements(others))
        if ticks and table is not None:
            # The ticks first: the other events' statements go after them.
            tick_part = tick_statements(table, ticks, tick_seq, self.chunk)
            tick_seq += len(ticks)
            tick_part.append(("", _SET_TICK_SEQ, [(tick_seq,)]))
            statements[:0] = tick_part
        statements.extend(cursors)
        rows = _count(statements)
        if ticks and table is not None:
            rows[table] = rows.get(table, 0) + tick_seq - first_tick
        if appended:
            rows[OUTBOX.name] = appended
        return SqliteTransaction(statements, rows, tick_seq, outbox_seq, outbox)

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
            raise Poison(f"the {self.spec.name!r} database does not store {names}")
        return statements


def relay_cursors(messages: Sequence[Message]) -> list[Statement]:
    """The statement advancing the cursor of each source a relay delivered some of
    ``messages`` from (none if a relay delivered none of them)."""
    if not any(h is not None and h.cursor is not None for h in set(map(_headers, messages))):
        return []  # headers of services (their origin), no relay's: nothing to count
    latest: dict[str, list[int]] = {}
    # The messages of a relay's group share one Headers: count each once.
    for headers, n in Counter(map(_headers, messages)).items():
        if headers is None or headers.cursor is None:
            continue
        seen = latest.get(headers.origin)
        if seen is None:
            latest[headers.origin] = [headers.cursor, n]
        else:
            seen[0] = max(seen[0], headers.cursor)
            seen[1] += n
    if not latest:
        return []
    now = time.time_ns()
    rows = [(origin, cursor, n, now) for origin, (cursor, n) in latest.items()]
    return [("", ADVANCE_CURSOR, rows)]


def _count(statements: list[Statement]) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table, _sql, params in statements:
        if table:  # statements that write no row of their own have none
            rows[table] = rows.get(table, 0) + len(params)
    return rows


def tick_statements(table: str, ticks: list[Tick], first_seq: int, chunk: int) -> list[Statement]:
    """The multi-row INSERTs of ``ticks``, their seqs from ``first_seq`` on.

    More than ``chunk`` ticks: as few statements as ``chunk`` allows, of one size (a
    multiple of 64 rows). The rest, or fewer: halving chunks, then the last few rows in
    one statement of their own size (a bounded set of sizes, each compiled once).
    """
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
    row = 0
    if n > chunk:
        # As few statements as the variable limit allows, of equal sizes (the SQLite
        # thread wins the GIL back after each one, a wait when the event loop is
        # busy), each a multiple of _step(chunk) rows: batches cut by age have all sizes,
        # and a new size is a new statement to compile (milliseconds).
        parts = -(-n // chunk)
        step = _step(chunk)
        rows = n // parts // step * step
        row = _pieces(statements, table, flat, first_seq, row, rows, parts)
        # The rest (less than parts * (step + 1) rows): pieces of step rows, then the
        # last few in one statement: three statements in all, at most.
        row = _pieces(statements, table, flat, first_seq, row, step, (n - row) // step)
        if row < n:
            _pieces(statements, table, flat, first_seq, row, n - row, 1)
        return statements
    if n == chunk:
        statements.append(("", tick_insert_sql(table, chunk), [_with_seq(flat, first_seq)]))
        return statements
    # Fewer than a chunk: power-of-two chunks, largest first, then the last few rows
    # in one statement of their own size.
    while row < n:
        left = n - row
        size = left if left < min(_SMALL, chunk) else min(chunk, 1 << (left.bit_length() - 1))
        params = flat[row * TICK_FIELDS : (row + size) * TICK_FIELDS + 1]
        params[0] = first_seq + row
        statements.append(("", tick_insert_sql(table, size), [params]))
        row += size
    return statements


def _pieces(
    statements: list[Statement],
    table: str,
    flat: list[Any],
    first_seq: int,
    row: int,
    rows: int,
    count: int,
) -> int:
    """Add one statement of ``rows`` rows run for ``count`` pieces from ``row`` on (if
    any); return the row after them."""
    if count < 1:
        return row
    chunks = []
    for _ in range(count):
        params = flat[row * TICK_FIELDS : (row + rows) * TICK_FIELDS + 1]
        params[0] = first_seq + row
        chunks.append(params)
        row += rows
    statements.append(("", tick_insert_sql(table, rows), chunks))
    return row


def _step(chunk: int) -> int:
    """What the size of a statement of a batch over ``chunk`` is a multiple of: never
    more than half a chunk, so that each of its equal parts (over half a chunk) holds
    at least one."""
    return max(1, min(_SMALL, chunk // 2))


def _with_seq(flat: list[Any], first_seq: int) -> list[Any]:
    flat[0] = first_seq
    return flat


def prepare_tick_statements(conn: sqlite3.Connection, table: str, expected_batch: int = 0) -> int:
    """Choose the tick chunk for the connection's variable limit and compile the
    chunk-sized tick INSERTs :func:`tick_statements` uses, and those of a batch of
    ``expected_batch`` ticks, in the connection's thread.

    Compiling an INSERT of a thousand rows takes milliseconds; done here, it does not
    delay the first batches that use it. sqlite3 has no prepare-only call: executing
    with no parameters compiles and caches the statement, then refuses to run it.
    Returns the chunk.
    """
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    chunk = TICK_CHUNK
    while chunk > 1 and 1 + chunk * TICK_FIELDS > limit:
        chunk //= 2
    sizes = set()
    size = chunk
    while size >= min(_SMALL, chunk):
        sizes.add(size)
        size //= 2
    if expected_batch > chunk:
        parts = -(-expected_batch // chunk)
        sizes.add(expected_batch // parts // _step(chunk) * _step(chunk))
    for size in sorted(sizes, reverse=True):
        try:
            conn.execute(tick_insert_sql(table, size), ())
        except sqlite3.ProgrammingError as exc:
            if "bindings" not in str(exc):  # anything but the expected refusal
                raise
    return chunk
