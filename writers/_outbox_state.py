"""What a SQLite writer knows of its file's outbox: its identity, its positions
(planned, and committed), and per database it forwards to, what is committed, sent
by this run, and held since it opened.

The writer's SQLite store keeps one; the relays of its process read it (see
``tradebus._outbox``). The thread that commits replaces the dictionaries rather than
change them, so that the event loop always reads whole ones.
"""

from __future__ import annotations

import sqlite3

from ._sqlite_outbox import CONTINUE_AFTER, HELD, OUTBOX_ID, OUTBOX_SEQ, TRIM
from ._sqlite_plan import SqliteTransaction

__all__ = ["OutboxState"]


class OutboxState:
    """The outbox of one writer's file, as read when it opened and committed since."""

    def __init__(self) -> None:
        #: The identity of this file's outbox (see ``writer_state``), once open.
        self.id = 0
        #: Per database this writer forwards to: the last outbox position committed
        #: (this run, or held from an earlier one), and the first held when it opened.
        self.committed: dict[str, int] = {}
        self.held_from: dict[str, int] = {}
        #: Per database: the last outbox position committed by this run.
        self.sent: dict[str, int] = {}
        #: The next position to plan (event loop), and the one after the last commit
        #: (the SQLite thread): the position the next event appended gets.
        self.planned = 1
        self.next = 1

    def load(self, conn: sqlite3.Connection) -> None:
        """Read what the file holds (when the writer opens it)."""
        row = conn.execute(OUTBOX_SEQ).fetchone()
        self.planned = self.next = int(row[0]) + 1 if row else 1
        row = conn.execute(OUTBOX_ID).fetchone()
        self.id = int(row[0]) if row else 0
        held = conn.execute(HELD).fetchall()
        self.held_from = {str(d): int(first) for d, first, _ in held}
        self.committed = {str(d): int(last) for d, _, last in held}

    def commit(self, transaction: SqliteTransaction) -> None:
        """Take in what ``transaction``, just committed, appended."""
        self.next = transaction.next_outbox_seq
        if transaction.outbox:
            committed, sent, held = dict(self.committed), dict(self.sent), dict(self.held_from)
            for database, (first, last) in transaction.outbox.items():
                committed[database] = sent[database] = last
                held.setdefault(database, first)
            self.committed, self.sent, self.held_from = committed, sent, held

    def continue_after(self, conn: sqlite3.Connection, position: int) -> None:
        """Make the next position come after ``position``, in a transaction on
        ``conn`` (the writer's, between its transactions)."""
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(CONTINUE_AFTER, (position,))
        self.planned = self.next = position + 1

    @staticmethod
    def trim(conn: sqlite3.Connection, database: str, upto: int) -> int:
        """Delete the rows for ``database`` up to position ``upto``; return how many."""
        return conn.execute(TRIM, (database, upto)).rowcount
